"""The merge statements. Both end in one INSERT ... ON CONFLICT DO UPDATE that only rewrites a
row whose content changed and that was not written by a later batch (`source_seq`), and both
count created/updated from RETURNING, i.e. from what the database did. "Changed" is jsonb
inequality on PostgreSQL (key order and whitespace never count; computing a hash of every
record cost a fifth of the merge) and a hash of the canonical JSON text on SQLite.

On PostgreSQL the whole batch is merged inside the database, straight from the staged
payload (parse, id extraction, hash, de-duplication, failed records): no per-record Python.
The row-by-row path (Python prepares the rows) serves SQLite, custom id extraction, and
batches PostgreSQL refuses to parse as a whole (e.g. a \\u0000 inside a record)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from django.db import connection
from django.utils import timezone

_UPSERT_SET = (
    "ON CONFLICT (client_id, external_id) DO UPDATE SET "
    "data = excluded.data, content_hash = excluded.content_hash, "
    "source_seq = excluded.source_seq, updated_at = excluded.updated_at "
)
_NEWER = "AND syncers_syncedrecord.source_seq <= excluded.source_seq RETURNING created_batch"
_UPSERT_TAIL_PG = _UPSERT_SET + "WHERE syncers_syncedrecord.data <> excluded.data " + _NEWER
_UPSERT_TAIL_HASH = _UPSERT_SET + "WHERE syncers_syncedrecord.content_hash <> excluded.content_hash " + _NEWER
_COLUMNS = "(client_id, external_id, data, content_hash, source_seq, created_batch, created_at, updated_at)"

_IN_DATABASE = f"""
WITH src AS (
    SELECT e.value AS data, e.ord,
           CASE WHEN jsonb_typeof(e.value) = 'object'
                 AND jsonb_typeof(e.value -> %(id_field)s) IN ('string', 'number')
                THEN e.value ->> %(id_field)s END AS eid,
           -- Printing each record as text costs about half its parse again: measure only
           -- when the whole batch is larger than the limit (else no record can be).
           CASE WHEN %(check_size)s THEN octet_length(e.value::text) ELSE 0 END AS size
    FROM syncers_syncbatch b
    CROSS JOIN LATERAL jsonb_array_elements(b.payload::jsonb) WITH ORDINALITY AS e(value, ord)
    WHERE b.id = %(batch)s
), bad AS (
    INSERT INTO syncers_failedrecord (client_id, run_id, batch_id, external_id, payload, reason, attempts, created_at)
    SELECT %(client)s, %(run)s, %(batch)s, left(coalesce(eid, ''), 255), data::text,
           CASE WHEN jsonb_typeof(data) <> 'object' THEN 'not a JSON object (' || jsonb_typeof(data) || ')'
                WHEN coalesce(eid, '') = '' THEN 'no usable id in field ''' || %(id_field)s || ''''
                WHEN length(eid) > 255 THEN 'id longer than 255 characters'
                ELSE 'record of ' || size || ' bytes of JSON, over SYNC_MAX_RECORD_BYTES ('
                     || %(max_bytes)s || ')' END,
           1, now()
    FROM src WHERE coalesce(eid, '') = '' OR length(eid) > 255 OR size > %(max_bytes)s
    RETURNING 1
), good AS (
    SELECT DISTINCT ON (eid) eid, data FROM src
    WHERE eid <> '' AND length(eid) <= 255 AND size <= %(max_bytes)s
    ORDER BY eid, ord DESC
), changed AS (
    -- Unchanged rows are filtered out before the upsert, so they are not even row-locked.
    SELECT g.* FROM good g
    LEFT JOIN syncers_syncedrecord r ON r.client_id = %(client)s AND r.external_id = g.eid
    WHERE r.id IS NULL OR (r.data <> g.data AND r.source_seq <= %(batch)s)
), merged AS (
    INSERT INTO syncers_syncedrecord {_COLUMNS}
    SELECT %(client)s, eid, data, '', %(batch)s, %(batch)s, now(), now() FROM changed
    {_UPSERT_TAIL_PG}
)
SELECT (SELECT count(*) FROM good),
       (SELECT count(*) FROM merged WHERE created_batch = %(batch)s),
       (SELECT count(*) FROM merged),
       (SELECT count(*) FROM bad)
"""


@dataclass
class Row:
    external_id: str
    data: str  # canonical JSON text
    content_hash: str  # SQLite only: PostgreSQL compares the jsonb values themselves


@dataclass
class Merged:
    created: int
    updated: int
    unchanged: int
    failed: int = 0


def server_cursor() -> psycopg.Cursor:
    """A cursor that sends parameters separately: Django's default client-side binding would
    quote and splice every staged payload into the SQL text, which dominated the profile.
    Use with `connection.wrap_database_errors` so errors arrive as django.db exceptions."""
    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


def merge_batch_in_database(
    *, client_id: int, run_id: int, batch_id: int, id_field: str, max_bytes: int, check_size: bool = True
) -> Merged:
    """`max_bytes`: the largest record stored, measured on its jsonb text (a space after each
    `:` and `,`: a little more than compact JSON); `check_size=False`: no record can be larger."""
    params = {
        "client": client_id,
        "run": run_id,
        "batch": batch_id,
        "id_field": id_field,
        "max_bytes": max_bytes,
        "check_size": check_size,
    }
    with server_cursor() as cur, connection.wrap_database_errors:
        cur.execute(_IN_DATABASE, params)
        good, created, written, failed = cur.fetchone()
    return Merged(created=created, updated=written - created, unchanged=good - written, failed=failed)


def merge_rows(client_id: int, batch_id: int, rows: list[Row]) -> Merged:
    """One statement for prepared rows (SQLite, or PostgreSQL's row-by-row fallback)."""
    postgres = connection.vendor == "postgresql"
    placeholder = (
        "(%s, %s, CAST(%s AS jsonb), '', %s, %s, now(), now())"
        if postgres
        else ("(%s, %s, %s, %s, %s, %s, %s, %s)")
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params: list[Any] = []
    for row in rows:
        if postgres:
            params += [client_id, row.external_id, row.data, batch_id, batch_id]
        else:
            params += [client_id, row.external_id, row.data, row.content_hash, batch_id, batch_id, now, now]
    tail = _UPSERT_TAIL_PG if postgres else _UPSERT_TAIL_HASH
    sql = f"INSERT INTO syncers_syncedrecord {_COLUMNS} VALUES {', '.join([placeholder] * len(rows))} {tail}"
    with server_cursor() if postgres else connection.cursor() as cur, connection.wrap_database_errors:
        cur.execute(sql, params)
        written = [r[0] for r in cur.fetchall()]
    created = sum(1 for b in written if b == batch_id)
    return Merged(created=created, updated=len(written) - created, unchanged=len(rows) - len(written))
