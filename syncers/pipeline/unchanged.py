"""Skip unchanged records before staging: a re-sync that finds a page's records as the ledger
already holds them stages none of them. Each page's records are keyed, the keys looked up in
the ledger (the records table) with one query, and a record whose content hash equals the
stored one is counted unchanged instead of being staged, loaded and compared again.

What the durability promise needs still commits with the page's checkpoint (stage.py): a
batch row that is done already, counting the skipped records as unchanged and, for a
destination client, listing their keys as seen (destinations.deletions reads them).

A record is skipped only when skipping it cannot change what the load would have done:
- its key occurs once on the page (copies on one page are ordered by the load);
- the ledger row is live (not missing) and has no failed record waiting under that key
  (loading it would have cleared that);
- no staged batch that is not loaded yet may hold another copy: none pending from another run
  or from before this fetcher started staging (adopted, pushed), and the key was not staged
  by this fetcher while the ledger held it (`_Staged`, checked when the page is divided, so
  also against pages staged after its look-up), so the load orders those copies as it did
  before (conservative: the load does not rewrite an unchanged row either);
- its hash is the one the load stores: on the generic table the MD5 of the record's compact
  JSON text, which the in-database merge computes from the staged text (merge.py); on a
  destination the mapped row's hash (destinations.load.keyed_items), with the same version
  as the stored one when the client names a version field.
The look-up (keys, ledger query, hashes) runs in a thread of its own one page ahead of staging
(`UnchangedFilter.ahead`), so it overlaps the previous page's commit.
PostgreSQL only; elsewhere every record is staged as before."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from django.db import connection
from django.db.models import Max

from syncers.models import SyncBatch, SyncClient, SyncedRecord
from syncers.registry import Page, SyncHandler, get_handler
from syncers.store.cursor import server_cursor
from syncers.versions import supersedes, version_field, version_of

from .chunk import compact, compact_bytes
from .fetch import prefetched

_LEDGER = """
SELECT r.external_id, r.content_hash, r.version
FROM json_array_elements_text(%(keys)s::json) AS k(key)
-- One index probe per key, whatever the table's statistics say (LIMIT 1 keeps it a probe).
CROSS JOIN LATERAL (
    SELECT r.external_id, r.content_hash, r.version FROM syncers_syncedrecord r
    WHERE r.client_id = %(client)s AND r.external_id = k.key
      AND r.missing_since IS NULL AND r.content_hash <> ''
    LIMIT 1
) r
WHERE NOT EXISTS (SELECT 1 FROM syncers_failedrecord f
                  WHERE f.client_id = %(client)s AND f.record_key = k.key)
  AND NOT EXISTS (SELECT 1 FROM syncers_syncbatch b
                  WHERE b.client_id = %(client)s AND b.state = 'pending'
                    AND (b.run_id <> %(run)s OR b.id < %(first)s))
"""


def record_digest(record: Any) -> str:
    """The generic table's content hash: MD5 of the record's compact JSON text as staged (what
    PostgreSQL's md5() gives for the staged element; see merge._IN_DATABASE)."""
    return hashlib.md5(compact_bytes(record), usedforsecurity=False).hexdigest()


class _Staged:
    """Keys this fetcher staged while the ledger held them (their batch may still be pending,
    so the ledger's copy may be about to change): a fixed-size bit set, so memory stays flat
    however long the listing. A false positive only means a record is staged, not skipped."""

    BITS = 1 << 23  # 1 MiB

    def __init__(self) -> None:
        self.bits = bytearray(self.BITS // 8)
        self.empty = True

    def add(self, key: str) -> None:
        h = hash(key) & (self.BITS - 1)
        self.bits[h >> 3] |= 1 << (h & 7)
        self.empty = False

    def __contains__(self, key: str) -> bool:
        h = hash(key) & (self.BITS - 1)
        return bool(self.bits[h >> 3] & (1 << (h & 7)))


@dataclass
class Lookup:
    """A page's records against the ledger (see UnchangedFilter.look_up)."""

    keys: list[str | None]  # per record: its key, None when keyless or not alone on the page
    ledger: Collection[str]  # keys the ledger holds, live and comparable
    skip: set[str]  # of those, the keys whose record is as stored


@dataclass
class Split:
    """A page divided: the records to stage (in page order) and the unchanged ones skipped."""

    stage: list[Any]
    unchanged: int = 0
    seen_keys: list[str] | None = None  # destination: the skipped keys


class UnchangedFilter:
    """Per run: divides each page before it is staged (see the module docstring)."""

    def __init__(self, *, client: SyncClient, run_id: int) -> None:
        self.client_id = client.pk
        self.run_id = run_id
        # Every batch id above this one is staged by this fetcher (or is another run's, which the
        # look-up tells by its run): known up front, so a look-up done ahead needs no update.
        self.first_batch = (SyncBatch.objects.aggregate(last=Max("id"))["last"] or 0) + 1
        self.staged = _Staged()
        handler = get_handler(client.handler)
        self.handler = handler
        self.config = handler.clean_config(client.config or {})
        self.version_path = version_field(self.config)
        self.dest = None
        # The records' keys as the load keys them: the handler's external ids, or the natural key.
        self.keys_of: Callable[[list[Any]], list[str | None]] = partial(
            handler.external_ids, config=self.config
        )
        if client.destination:
            from syncers.destinations.config import parse_destination
            from syncers.destinations.load import record_keyer

            self.dest = parse_destination(client.destination)
            key_of = record_keyer(self.dest)
            self.keys_of = lambda records: list(map(key_of, records))
        # The generic table stores these hashes only through the in-database merge.
        generic_ok = type(handler).external_id is SyncHandler.external_id
        # A client with no ledger rows yet (a first sync) has nothing to compare with.
        self.enabled = (
            connection.vendor == "postgresql"
            and (self.dest is not None or generic_ok)
            and SyncedRecord.objects.filter(client_id=client.pk).exclude(content_hash="").exists()
        )

    def ahead(self, pages: Iterator[Page]) -> Iterator[tuple[Page, Lookup | None]]:
        """Each page with its look_up(), done in a background thread while the page before it
        is being staged: keying, the ledger query and hashing then overlap the page's commit
        instead of preceding it. Nothing to look up (a first sync): no thread."""
        if not self.enabled:
            return ((page, None) for page in pages)
        return prefetched(((page, self.look_up(page.records)) for page in pages), depth=1)

    def look_up(self, records: list[Any]) -> Lookup | None:
        """What the ledger says of a page's records: None when it holds none of them."""
        if not self.enabled or not records:
            return None
        keys = self.keys_of(records)
        if len(set(keys)) < len(keys):  # copies of a key (or keyless records): those stay staged
            counts = Counter(keys)
            keys = [k if k is not None and counts[k] == 1 else None for k in keys]
        if not any(keys):
            return None
        ledger = self._ledger([k for k in keys if k is not None])
        if not ledger:
            return None
        return Lookup(keys, ledger.keys(), self._unchanged(records, keys, ledger))

    def split(self, records: list[Any], looked_up: Lookup | Literal["now"] | None = "now") -> Split:
        """Divide a page, with its look_up() if done ahead (else it is done now)."""
        found = self.look_up(records) if isinstance(looked_up, str) else looked_up
        if found is None:
            return Split(list(records))
        staged = self.staged  # keys staged since the look-up (pages before this one) stay staged
        stage: list[Any] = []
        seen: list[str] = []
        for record, key in zip(records, found.keys, strict=True):
            if key is not None and key in found.skip and (staged.empty or key not in staged):
                seen.append(key)
                continue
            if key is not None and key in found.ledger:
                staged.add(key)
            stage.append(record)
        return Split(stage, unchanged=len(seen), seen_keys=seen if self.dest is not None else None)

    def _ledger(self, keys: list[str]) -> dict[str, tuple[str, Any]]:
        # The keys as one JSON text: psycopg's text[] adaptation cost a Python call per key.
        params = {
            "client": self.client_id,
            "keys": compact(keys),
            "run": self.run_id,
            "first": self.first_batch,
        }
        with server_cursor() as cur, connection.wrap_database_errors:
            cur.execute(_LEDGER, params)
            return {r[0]: (r[1], r[2]) for r in cur.fetchall()}

    def _unchanged(
        self, records: list[Any], keys: list[str | None], ledger: dict[str, tuple[str, Any]]
    ) -> set[str]:
        """The keys among `ledger`'s whose record on the page hashes as the stored one."""
        if self.dest is None:  # keys are strings or None, which no ledger holds
            return {
                k
                for r, k in zip(records, keys, strict=True)
                if k in ledger and record_digest(r) == ledger[k][0]
            }
        found = [(r, k) for r, k in zip(records, keys, strict=True) if k is not None and k in ledger]
        from syncers.destinations.load import mapped_row, row_digest, row_paths

        # As keyed_items keys and hashes them: `found` holds keyable records, one per key.
        paths = row_paths(self.dest)
        out: set[str] = set()
        for record, key in found:
            digest, version = ledger[key]
            if digest != row_digest(mapped_row(record, paths)):
                continue
            if self.version_path:
                stored = None if version is None else (version,)
                mine = version_of(record, self.version_path)
                if not (supersedes(mine, stored) and supersedes(stored, mine)):
                    continue  # the load would count an older (or newer) copy
            out.add(key)
        return out
