"""Durations, sizes and e-mail lists as operators type them: parsed at the field with an error
that names what is wrong, and shown back so that the shown text parses to the same value."""

from __future__ import annotations

from typing import Any

import pytest
from django import forms

from fakeapi.control import FakeApi
from gateway.forms import ConnectionForm
from gateway.models import Connection
from gateway.units import (
    DurationField,
    DurationListField,
    SizeField,
    format_duration,
    format_size,
    parse_duration,
    parse_size,
)
from syncers.console.forms import EmailListField, SyncClientForm


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 30),
        ("30s", 30),
        ("5m", 300),
        ("1h 30m", 5400),
        ("1.5h", 5400),
        ("500ms", 0.5),
        ("2 days", 172800),
    ],
)
def test_durations_are_read_with_their_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("seconds", [0.1, 0.5, 1, 1.5, 30, 60, 90, 300, 3600, 5400, 86400, 90061])
def test_a_shown_duration_reads_back_as_the_same_value(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("text", "size"), [("524288", 524288), ("50 MB", 52428800), ("512KB", 524288), ("1 GiB", 1024**3)]
)
def test_sizes_are_read_with_their_units(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_sizes_are_shown_in_the_largest_exact_unit() -> None:
    assert [format_size(n) for n in (52428800, 524288, 1000, 1536)] == [
        "50 MB",
        "512 KB",
        "1000 bytes",
        "1536 bytes",
    ]


class Fields(forms.Form):
    timeout = DurationField()
    whole = DurationField(whole=True, required=False)
    size = SizeField()
    pauses = DurationListField(required=False)
    emails = EmailListField(required=False)


def errors(data: dict[str, Any]) -> dict[str, list[str]]:
    form = Fields({"timeout": "5s", "size": "1 MB", **data})
    form.is_valid()
    return form.errors


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"timeout": "soon"}, "timeout", "'soon' is not a duration like 30s, 5m, 1h 30m or 500ms"),
        ({"timeout": "5 weeks"}, "timeout", "'5 weeks' is not a duration like"),
        ({"whole": "1.5s"}, "whole", "'1.5s' is not a whole number of seconds."),
        ({"size": "50 parsecs"}, "size", "'50 parsecs' is not a size like 50 MB"),
        ({"pauses": "1m, 5x"}, "pauses", "Item 2: '5x' is not a duration like"),
        ({"pauses": "1m, 0s"}, "pauses", "Item 2 ('0s'): a pause lasts whole seconds, 1s or more."),
        (
            {"emails": "ops@example.com\nnot-an-address"},
            "emails",
            "Line 2: 'not-an-address' is not an e-mail address.",
        ),
    ],
)
def test_a_bad_value_is_refused_at_its_field_naming_what_is_wrong(
    data: dict, field: str, message: str
) -> None:
    found = errors(data)

    assert list(found) == [field]
    assert found[field][0].startswith(message), found[field]


def test_the_lists_parse_and_show_back_as_typed() -> None:
    form = Fields(
        {"timeout": "5s", "size": "1 MB", "pauses": "1m, 5m, 1h", "emails": "a@example.com\n\nb@example.com"}
    )

    assert form.is_valid(), form.errors
    assert form.cleaned_data["pauses"] == [60, 300, 3600]
    assert form.cleaned_data["emails"] == ["a@example.com", "b@example.com"]
    shown = Fields(initial={"pauses": [60, 300, 3600], "emails": ["a@example.com", "b@example.com"]})
    assert 'value="1m, 5m, 1h"' in str(shown["pauses"])
    assert ">\na@example.com\nb@example.com</textarea>" in str(shown["emails"])


@pytest.mark.django_db
def test_the_connection_form_shows_and_takes_sizes_and_durations_with_units(api: FakeApi) -> None:
    shown = ConnectionForm(instance=Connection(name="x", base_url=api.url))
    assert 'value="50 MB"' in str(shown["max_body_bytes"]) and 'value="5s"' in str(shown["connect_timeout"])

    data = {**{f: shown[f].value() for f in shown.fields}, "name": "x", "base_url": api.url}
    data |= {
        "max_body_bytes": "8 MB",
        "read_timeout": "1m",
        "total_timeout": "2m",
        "connect_timeout": "500ms",
    }
    data |= {"headers": "{}", "default_params": "{}", "paused": ""}
    form = ConnectionForm({k: v for k, v in data.items() if v is not None})
    assert form.is_valid(), form.errors
    conn = form.save()
    assert (conn.max_body_bytes, conn.read_timeout, conn.total_timeout, conn.connect_timeout) == (
        8 * 1024**2,
        60,
        120,
        0.5,
    )


@pytest.mark.django_db
def test_the_client_form_takes_pause_durations_and_one_email_per_line(connection_to: Connection) -> None:
    data = {
        "name": "c",
        "connection": connection_to.pk,
        "handler": "rest",
        "config": "{}",
        "destination": "{}",
    }
    data |= {"batch_size": 100, "queue": "sync", "pause_durations": "1m, 5m, 1h", "max_duration": "30m"}
    data |= {"notify_emails": "ops@example.com\ndev@example.com"}

    form = SyncClientForm(data)

    assert form.is_valid(), form.errors
    client = form.save()
    assert (client.pause_durations, client.max_duration) == ([60, 300, 3600], 1800)
    assert client.notify_emails == ["ops@example.com", "dev@example.com"]
    again = SyncClientForm(instance=client)
    assert 'value="1m, 5m, 1h"' in str(again["pause_durations"]) and 'value="30m"' in str(
        again["max_duration"]
    )
