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
  by this fetcher while the ledger held it (`_Staged`), so the load orders those copies as
  it did before (conservative: the load does not rewrite an unchanged row either);
- its hash is the one the load stores: on the generic table the MD5 of the record's compact
  JSON text, which the in-database merge computes from the staged text (merge.py); on a
  destination the mapped row's hash (destinations.load.keyed_items), with the same version
  as the stored one when the client names a version field.
PostgreSQL only; elsewhere every record is staged as before."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.db import connection

from syncers.models import SyncClient, SyncedRecord
from syncers.registry import SyncHandler, get_handler
from syncers.store.cursor import server_cursor
from syncers.versions import supersedes, version_field, version_of

from .chunk import compact, compact_bytes

_NOT_STAGED_YET = 2**62  # an id above every batch: before our first batch, any pending one is foreign

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
        self.first_batch = _NOT_STAGED_YET
        self.staged = _Staged()
        handler = get_handler(client.handler)
        self.handler = handler
        self.config = handler.clean_config(client.config or {})
        self.version_path = version_field(self.config)
        self.dest = None
        # The record's key as the load keys it: the handler's external id, or the natural key.
        self.key_of: Callable[[Any], str | None] = partial(handler.external_id, config=self.config)
        if client.destination:
            from syncers.destinations.config import parse_destination
            from syncers.destinations.load import record_keyer

            self.dest = parse_destination(client.destination)
            self.key_of = record_keyer(self.dest)
        # The generic table stores these hashes only through the in-database merge.
        generic_ok = type(handler).external_id is SyncHandler.external_id
        # A client with no ledger rows yet (a first sync) has nothing to compare with.
        self.enabled = (
            connection.vendor == "postgresql"
            and (self.dest is not None or generic_ok)
            and SyncedRecord.objects.filter(client_id=client.pk).exclude(content_hash="").exists()
        )

    def batches_staged(self, ids: list[int]) -> None:
        if ids:
            self.first_batch = min(self.first_batch, *ids)

    def split(self, records: list[Any]) -> Split:
        if not self.enabled or not records:
            return Split(list(records))
        keys = list(map(self.key_of, records))
        counts = Counter(keys)
        single = [k for k in keys if k is not None and counts[k] == 1]
        ledger = self._ledger(single) if single else {}
        if not ledger:
            return Split(list(records))
        skip = self._unchanged(records, keys, ledger)
        stage: list[Any] = []
        seen: list[str] = []
        for record, key in zip(records, keys, strict=True):
            if key is not None and key in skip:
                seen.append(key)
                continue
            if key is not None and key in ledger:
                self.staged.add(key)
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
            rows = cur.fetchall()
        if self.staged.empty:
            return {r[0]: (r[1], r[2]) for r in rows}
        return {r[0]: (r[1], r[2]) for r in rows if r[0] not in self.staged}

    def _unchanged(
        self, records: list[Any], keys: list[str | None], ledger: dict[str, tuple[str, Any]]
    ) -> set[str]:
        """The keys among `ledger`'s whose record on the page hashes as the stored one."""
        found = [(r, k) for r, k in zip(records, keys, strict=True) if k is not None and k in ledger]
        if self.dest is None:
            return {k for r, k in found if record_digest(r) == ledger[k][0]}
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
