"""The REST source's options: field mapping end to end, every bad option refused at the
client's config field with a message naming it, and the timestamp rules of incremental mode."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from fakeapi.control import FakeApi
from gateway.models import Connection
from syncers.handlers.incremental import Tracker, shifted
from syncers.models import SyncClient, SyncedRecord, SyncRun
from syncers.registry import get_handler

from .test_rest_source_pagination import STYLES, rest_client, run_now

MAPPING = {"key": "sku", "title": "name", "price": "price", "first_tag": "tags.0", "changed": "updated_at"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_field_mapping_shapes_the_stored_record_and_the_id_is_read_after_it(
    api: FakeApi, make_client
) -> None:
    api.reset(records=60)
    client = rest_client(
        make_client, "next_url", fields=MAPPING, id_field="key", incremental={"field": "changed"}
    )

    run = run_now(client)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    expected = {
        r["sku"]: {"key": r["sku"], "title": r["name"], "price": r["price"], "first_tag": r["tags"][0]}
        | {"changed": r["updated_at"]}
        for r in api.records()
    }
    assert dict(SyncedRecord.objects.filter(client=client).values_list("external_id", "data")) == expected
    client.refresh_from_db()
    assert client.checkpoint == {"updated_since": "2026-01-01T00:01:00Z"}, "cursor from the mapped field"


BAD_CONFIGS: list[tuple[dict[str, Any], str]] = [
    (
        {"pagination": "scroll"},
        "'pagination' must be one of: page, offset, cursor, link, next_url (got 'scroll').",
    ),
    (
        {"pagination": "cursor", "page_param": "p"},
        "Option 'page_param' does not apply to pagination 'cursor'.",
    ),
    ({"pagination": "cursor", "cursor_path": ""}, "'cursor_path' must be a non-empty string."),
    ({"pagination": "next_url", "next_path": 7}, "'next_path' must be a non-empty string."),
    ({"pagination": "offset", "offset_param": " "}, "'offset_param' must be a non-empty string."),
    ({"records_path": 3}, "'records_path' must be a string (empty for none)."),
    ({"page_size": 0}, "'page_size' must be an integer from 1 to 10000."),
    (
        {"id_field": "meta.id"},
        "'id_field' names a top-level field of the stored record; map a nested id with 'fields'.",
    ),
    ({"fields": []}, "'fields' must be a non-empty JSON object of target name → dotted source path."),
    ({"fields": {"id": 5}}, "'fields.id' must be a non-empty dotted path string."),
    ({"fields": {"id": "id", "a.b": "x"}}, "'fields' target 'a.b' must be a plain name (no dots)."),
    (
        {"fields": {"title": "name"}},
        "'id_field' is read from the mapped record, but 'id' is not a target in 'fields'.",
    ),
    ({"incremental": "yes"}, "'incremental' must be a JSON object"),
    ({"incremental": {"colour": 1}}, "Unknown option 'incremental.colour'."),
    ({"incremental": {"param": ""}}, "'incremental.param' must be a non-empty string."),
    ({"incremental": {"lookback_seconds": -1}}, "'incremental.lookback_seconds' must be an integer from 0"),
    (
        {"fields": {"id": "id"}, "incremental": {"field": "changed"}},
        "'incremental.field' is read from the mapped record, but 'changed' is not a target in 'fields'.",
    ),
    ({"version_field": 3}, "'version_field' must be a dotted path like \"updated_at\""),
    ({"version_field": "meta..rev"}, "'version_field' must be a dotted path"),
    (
        {"fields": {"id": "id"}, "version_field": "rev"},
        "'version_field' is read from the mapped record, but 'rev' is not a target in 'fields'.",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("config", "message"), BAD_CONFIGS)
def test_a_bad_option_is_refused_at_the_config_field_naming_it(
    connection_to: Connection, config: dict[str, Any], message: str
) -> None:
    client = SyncClient(name="bad-config", connection=connection_to, handler="rest", config=config)

    with pytest.raises(ValidationError) as err:
        client.full_clean()

    assert set(err.value.message_dict) == {"config"}
    assert any(m.startswith(message) for m in err.value.message_dict["config"]), err.value.message_dict


def test_each_style_gets_its_own_defaults_and_page_numbers_keep_the_old_keys() -> None:
    rest = get_handler("rest")

    page = rest.clean_config({"path": "/x"})
    cursor = rest.clean_config({"pagination": "cursor", "path": "/x"})

    assert set(page) == {
        *("path", "records_path", "id_field", "page_param", "page_size_param", "page_size"),
        *("start_page", "params", "max_pages", "pagination"),
    }
    assert (page["page_param"], page["page_size_param"], page["start_page"]) == ("page", "per_page", 1)
    assert (cursor["cursor_param"], cursor["cursor_path"], cursor["page_size_param"]) == (
        "cursor",
        "next_cursor",
        "limit",
    )
    assert "page_param" not in cursor and "fields" not in cursor and "incremental" not in cursor
    assert {s: rest.clean_config({"pagination": s})["pagination"] for s in STYLES} == {s: s for s in STYLES}


@pytest.mark.parametrize(
    ("value", "seconds", "expected"),
    [
        ("2026-01-01T00:01:00Z", 90, "2025-12-31T23:59:30Z"),
        ("2026-01-01T00:01:00.250Z", 1, "2026-01-01T00:00:59.250000Z"),
        ("2026-01-01T00:01:00+02:00", 60, "2026-01-01T00:00:00+02:00"),
        ("2026-01-01T00:01:00", 60, "2026-01-01T00:00:00"),
        (1_767_225_660, 60, 1_767_225_600),
        ("2026-01-01T00:01:00Z", 0, "2026-01-01T00:01:00Z"),
    ],
)
def test_the_look_back_keeps_the_sources_timestamp_format(value: Any, seconds: int, expected: Any) -> None:
    assert shifted(value, seconds) == expected


def test_the_greatest_timestamp_is_compared_as_an_instant_not_as_text() -> None:
    tracker = Tracker({"param": "since", "field": "at"}, {"updated_since": "2026-01-01T00:00:00Z"})

    tracker.see([{"at": "2026-01-01T01:00:00+02:00"}, {"at": "2026-01-01T00:30:00Z"}, {"at": "garbage"}, {}])

    assert tracker.params() == {"since": "2026-01-01T00:00:00Z"}
    assert tracker.state() == {"updated_since": "2026-01-01T00:00:00Z", "max_seen": "2026-01-01T00:30:00Z"}
