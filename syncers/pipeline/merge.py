"""The merge statements. Both end in one INSERT ... ON CONFLICT DO UPDATE that only rewrites a
row whose content changed and that was not written by a later batch (`source_seq`), and both
count created/updated from RETURNING, i.e. from what the database did. "Changed" is jsonb
inequality on PostgreSQL (key order and whitespace never count) and a hash of the canonical
JSON text on SQLite. The in-database merge also stores the MD5 of each record's staged text,
which the next re-sync compares before staging (pipeline.unchanged); a row whose content is
equal but whose hash is not is rewritten for its hash and counted unchanged.

On PostgreSQL the whole batch is merged inside the database, straight from the staged
payload (parse, id extraction, hash, de-duplication, failed records): no per-record Python.
The row-by-row path (Python prepares the rows) serves SQLite, custom id extraction, and
batches PostgreSQL refuses to parse as a whole (e.g. a \\u0000 inside a record)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone

from syncers.store.cursor import server_cursor
from syncers.versions import sql_version

_UPSERT_SET = (
    "ON CONFLICT (client_id, external_id) DO UPDATE SET "
    "data = excluded.data, content_hash = excluded.content_hash, version = excluded.version, "
    "source_seq = excluded.source_seq, updated_at = excluded.updated_at "
)
# Which copy is newer: without a version field the later batch (`source_seq`); with one the
# higher version (a copy without one ranks below every version), then the later batch.
_BY_SEQ = "syncers_syncedrecord.source_seq <= excluded.source_seq"
_BY_VERSION = (
    "(syncers_syncedrecord.version IS NOT NULL, coalesce(syncers_syncedrecord.version, 0), "
    "syncers_syncedrecord.source_seq) <= "
    "(excluded.version IS NOT NULL, coalesce(excluded.version, 0), excluded.source_seq)"
)
_CHANGED_PG = "syncers_syncedrecord.data <> excluded.data"
_CHANGED_HASH = "syncers_syncedrecord.content_hash <> excluded.content_hash"
# The in-database merge also writes a row whose content is equal but whose hash is not (rows
# stored before hashes were, or by the row-by-row path): counted unchanged, then skippable.
_CHANGED_PG_OR_HASH = f"({_CHANGED_PG} OR {_CHANGED_HASH})"
_COLUMNS = (
    "(client_id, external_id, data, content_hash, version, source_seq, created_batch, created_at, updated_at)"
)
_STORED_NEWER = {
    False: "r.source_seq <= %(batch)s",
    True: "(r.version IS NOT NULL, coalesce(r.version, 0), r.source_seq)"
    " <= (g.ver IS NOT NULL, coalesce(g.ver, 0), %(batch)s)",
}


def _tail(changed: str, versioned: bool, returning: str = "created_batch") -> str:
    newer = _BY_VERSION if versioned else _BY_SEQ
    return f"{_UPSERT_SET}WHERE {changed} AND {newer} RETURNING {returning}"


_IN_DATABASE = """
WITH src AS (
    SELECT e.value AS data, j.ord, md5(j.raw::text) AS digest,
           CASE WHEN jsonb_typeof(e.value) = 'object'
                 AND jsonb_typeof(e.value -> %(id_field)s) IN ('string', 'number')
                THEN e.value ->> %(id_field)s END AS eid,
           -- Printing each record as text costs about half its parse again: measure only
           -- when the whole batch is larger than the limit (else no record can be).
           CASE WHEN %(check_size)s THEN octet_length(e.value::text) ELSE 0 END AS size,
           {version} AS ver
    -- As json first: each element's text is exactly the staged record's compact JSON, whose
    -- MD5 is the content hash (pipeline.unchanged compares it before staging the next time).
    -- OFFSET 0: parse each element into jsonb once, not once per use.
    FROM syncers_syncbatch b
    CROSS JOIN LATERAL json_array_elements(b.payload::json) WITH ORDINALITY AS j(raw, ord)
    CROSS JOIN LATERAL (SELECT j.raw::jsonb AS value OFFSET 0) e
    WHERE b.id = %(batch)s
), failing AS (
    SELECT data, ord, left(coalesce(eid, ''), 255) AS eid,
           CASE WHEN jsonb_typeof(data) <> 'object' THEN 'not a JSON object (' || jsonb_typeof(data) || ')'
                WHEN coalesce(eid, '') = '' THEN 'no usable id in field ''' || %(id_field)s || ''''
                WHEN length(eid) > 255 THEN 'id longer than 255 characters'
                ELSE 'record of ' || size || ' bytes of JSON, over SYNC_MAX_RECORD_BYTES ('
                     || %(max_bytes)s || ')' END AS reason
    FROM src WHERE coalesce(eid, '') = '' OR length(eid) > 255 OR size > %(max_bytes)s
), bad AS (
    -- One row per (client, record key): a repeat failure counts an attempt (see failed.py).
    INSERT INTO syncers_failedrecord (client_id, run_id, batch_id, external_id, record_key, payload,
                                      reason, attempts, created_at, last_seen_at)
    SELECT DISTINCT ON (key) %(client)s, %(run)s, %(batch)s, eid, key, data::text, reason, 1, now(), now()
    FROM (SELECT f.*, CASE WHEN eid <> '' THEN eid
                           ELSE 'sha256:' || encode(sha256(convert_to(data::text, 'UTF8')), 'hex') END AS key
          FROM failing f) k
    ORDER BY key, ord DESC
    ON CONFLICT (client_id, record_key) DO UPDATE SET
        attempts = syncers_failedrecord.attempts + 1, run_id = excluded.run_id,
        batch_id = excluded.batch_id, external_id = excluded.external_id, payload = excluded.payload,
        reason = excluded.reason, last_seen_at = excluded.last_seen_at
    RETURNING 1
), good AS (
    -- The copy with the highest version (none: below any), the last among equals.
    SELECT DISTINCT ON (eid) eid, data, ver, digest FROM src
    WHERE eid <> '' AND length(eid) <= 255 AND size <= %(max_bytes)s
    ORDER BY eid, ver IS NOT NULL DESC, ver DESC, ord DESC
), forgotten AS (
    -- A record that loads leaves the failed records (the guard skips the join when none).
    DELETE FROM syncers_failedrecord f USING good g
    WHERE f.client_id = %(client)s AND f.record_key = g.eid
      AND EXISTS (SELECT 1 FROM syncers_failedrecord x WHERE x.client_id = %(client)s)
    RETURNING 1
), changed AS (
    -- Unchanged rows are filtered out before the upsert, so they are not even row-locked.
    SELECT g.*, r.id IS NULL OR r.data <> g.data AS data_changed FROM good g
    LEFT JOIN syncers_syncedrecord r ON r.client_id = %(client)s AND r.external_id = g.eid
    WHERE r.id IS NULL OR ((r.data <> g.data OR r.content_hash <> g.digest) AND {stored_newer})
), merged AS (
    INSERT INTO syncers_syncedrecord {columns}
    SELECT %(client)s, eid, data, digest, ver, %(batch)s, %(batch)s, now(), now() FROM changed
    {tail}
)
SELECT (SELECT count(*) FROM good),
       (SELECT count(*) FROM merged WHERE created_batch = %(batch)s),
       -- Written for new content; a hash written for equal content counts as unchanged.
       (SELECT count(*) FROM merged m JOIN changed c ON c.eid = m.external_id
        WHERE c.data_changed OR m.created_batch = %(batch)s),
       (SELECT count(*) FROM bad),
       -- Older copies: in the batch below its winner, or below the stored version.
       (SELECT count(*) FROM src s JOIN good g ON g.eid = s.eid
        WHERE %(versioned)s AND g.ver IS NOT NULL AND (s.ver IS NULL OR s.ver < g.ver)),
       (SELECT count(*) FROM good g JOIN syncers_syncedrecord r
             ON r.client_id = %(client)s AND r.external_id = g.eid
        WHERE %(versioned)s AND r.version IS NOT NULL AND (g.ver IS NULL OR g.ver < r.version)
          AND r.data <> g.data)
"""
_IN_DATABASE_SQL = {
    versioned: _IN_DATABASE.format(
        version=sql_version("(e.value #> %(version_path)s::text[])") if versioned else "NULL::numeric",
        stored_newer=_STORED_NEWER[versioned],
        columns=_COLUMNS,
        tail=_tail(_CHANGED_PG_OR_HASH, versioned, "created_batch, external_id"),
    )
    for versioned in (False, True)
}


@dataclass
class Row:
    external_id: str
    data: str  # canonical JSON text
    content_hash: str  # SQLite only: PostgreSQL compares the jsonb values themselves (stores '')
    version: Decimal | None = None  # syncers.versions.version_of, with a version field


@dataclass
class Merged:
    created: int
    updated: int
    unchanged: int
    failed: int = 0
    older: int = 0


def merge_batch_in_database(
    *,
    client_id: int,
    run_id: int,
    batch_id: int,
    id_field: str,
    max_bytes: int,
    check_size: bool = True,
    version_path: str | None = None,
) -> Merged:
    """`max_bytes`: the largest record stored, measured on its jsonb text (a space after each
    `:` and `,`: a little more than compact JSON); `check_size=False`: no record can be larger.
    `version_path`: the client's version field (syncers.versions), None for arrival order."""
    versioned = bool(version_path)
    params = {
        "client": client_id,
        "run": run_id,
        "batch": batch_id,
        "id_field": id_field,
        "max_bytes": max_bytes,
        "check_size": check_size,
        "versioned": versioned,
    }
    if version_path:
        params["version_path"] = [p for p in version_path.split(".") if p]
    with server_cursor() as cur, connection.wrap_database_errors:
        cur.execute(_IN_DATABASE_SQL[versioned], params)
        row = cur.fetchone()
        assert row is not None  # aggregates: always one row
        good, created, written, failed, older_in_batch, older_stored = row
    return Merged(
        created=created,
        updated=written - created,
        unchanged=good - written + older_in_batch,
        failed=failed,
        older=older_in_batch + older_stored,
    )


def merge_rows(client_id: int, batch_id: int, rows: list[Row], *, versioned: bool = False) -> Merged:
    """One statement for prepared rows (SQLite, or PostgreSQL's row-by-row fallback)."""
    postgres = connection.vendor == "postgresql"
    placeholder = (
        "(%s, %s, CAST(%s AS jsonb), '', %s, %s, %s, now(), now())"
        if postgres
        else ("(%s, %s, %s, %s, %s, %s, %s, %s, %s)")
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params: list[Any] = []
    for row in rows:
        version = connection.ops.adapt_decimalfield_value(row.version, 38, 6)
        if postgres:
            params += [client_id, row.external_id, row.data, version, batch_id, batch_id]
        else:
            params += [
                client_id,
                row.external_id,
                row.data,
                row.content_hash,
                version,
                batch_id,
                batch_id,
                now,
                now,
            ]
    tail = _tail(_CHANGED_PG if postgres else _CHANGED_HASH, versioned)
    sql = f"INSERT INTO syncers_syncedrecord {_COLUMNS} VALUES {', '.join([placeholder] * len(rows))} {tail}"
    with server_cursor() if postgres else connection.cursor() as cur, connection.wrap_database_errors:
        cur.execute(sql, params)
        written = [r[0] for r in cur.fetchall()]
    created = sum(1 for b in written if b == batch_id)
    return Merged(created=created, updated=len(written) - created, unchanged=len(rows) - len(written))
