"""The version rule (syncers.versions) and failed-record identity (syncers.store.failed)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection

from syncers.models import FailedRecord
from syncers.pipeline.load import load_batch
from syncers.store.failed import forget_loaded, keep_failures, record_key
from syncers.versions import supersedes, version_field, version_of

NEW_YEAR = (Decimal("1704067200.000000"),)


def test_version_field_is_the_option_else_the_incremental_field_else_none() -> None:
    assert version_field({"version_field": "meta.rev"}) == "meta.rev"
    assert version_field({"incremental": {"field": "updated_at"}}) == "updated_at"
    assert version_field({"incremental": {"field": "updated_at"}, "version_field": None}) is None
    assert version_field({"id_field": "id"}) is None


@pytest.mark.parametrize(
    "value",
    [
        "2024-01-01",
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00",  # naive: UTC
        "2024-01-01 00:00:00+00:00",
        "2024-01-01T01:00:00+01:00",
        1704067200,
        1704067200.0,
        "1704067200",
    ],
)
def test_timestamps_and_epoch_numbers_are_one_scale(value: object) -> None:
    assert version_of({"meta": {"at": value}}, "meta.at") == NEW_YEAR


@pytest.mark.parametrize("value", [None, True, "", "yesterday", "2024-02-30", [1], {"a": 1}, 1e40])
def test_unusable_versions_are_none(value: object) -> None:
    assert version_of({"at": value}, "at") is None
    assert version_of({"other": 1}, "at") is None


def test_versions_order_by_time_and_number() -> None:
    older = version_of({"at": "2024-01-01T00:00:00Z"}, "at")
    newer = version_of({"at": "2024-01-01T00:00:00.000001Z"}, "at")
    assert older < newer
    assert version_of({"rev": 9}, "rev") < version_of({"rev": "10"}, "rev")


def test_supersedes_equal_wins_and_a_missing_version_never_beats_a_version() -> None:
    one, two = (Decimal(1),), (Decimal(2),)
    assert supersedes(two, one)
    assert not supersedes(one, two)
    assert supersedes(one, one)  # equal versions: the last copy wins
    assert supersedes(one, None)
    assert not supersedes(None, one)
    assert supersedes(None, None)


@pytest.mark.django_db
def test_keep_failures_keeps_one_row_per_record_and_counts_attempts(make_client) -> None:
    client = make_client()
    bad = [
        FailedRecord(external_id="7", payload='{"id":7}', reason="first reason"),
        FailedRecord(external_id="", payload='{"x":1}', reason="no usable id"),
    ]
    assert keep_failures(client.pk, None, None, bad) == 2
    bad[0].reason = "second reason"
    assert keep_failures(client.pk, None, None, [*bad, bad[1]]) == 2

    rows = {f.record_key: f for f in FailedRecord.objects.filter(client=client)}
    # Keyless: a digest of the payload text, on PostgreSQL as jsonb prints it (as the in-database
    # merge keys it); elsewhere there is no such merge and the text is the payload's own.
    keyless = record_key("", '{"x": 1}' if connection.vendor == "postgresql" else '{"x":1}')
    assert set(rows) == {"7", keyless}
    assert keyless.startswith("sha256:")
    assert (rows["7"].attempts, rows["7"].reason) == (2, "second reason")
    assert rows["7"].last_seen_at > rows["7"].created_at

    assert forget_loaded(client.pk, ["7", "8"]) == 1
    assert list(FailedRecord.objects.filter(client=client).values_list("record_key", flat=True)) == [keyless]


@pytest.mark.django_db
def test_the_database_merge_upserts_failures_and_forgets_records_that_load(make_client) -> None:
    from .test_load import stage

    client = make_client()
    keep_failures(
        client.pk, None, None, [FailedRecord(external_id="1", payload='{"id":1}', reason="earlier")]
    )
    batch = load_batch(stage(client, [{"id": 1}, {"name": "no id"}, {"name": "no id"}]).pk)
    again = load_batch(stage(client, [{"name": "no id"}]).pk)

    assert (batch.created, batch.failed, again.failed) == (1, 1, 1)
    row = FailedRecord.objects.get(client=client)
    assert (row.attempts, row.batch_id, row.record_key[:7]) == (2, again.pk, "sha256:")
