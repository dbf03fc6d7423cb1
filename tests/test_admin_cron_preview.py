"""What the schedule inline promises: the cron in words, the next five fire times in the
schedule's own time zone exactly as beat will fire them (checked against beat's own is_due,
stepped minute by minute across DST changes), and a note whenever a DST change skips, moves
or repeats one of those times."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest

from syncers.models import SyncSchedule
from syncers.models.clients import parse_cron
from syncers.schedules.beat import RepeatSafeCrontab
from syncers.schedules.cron_preview import (
    TIME_FORMAT,
    cron_next_fires,
    cron_preview,
    cron_words,
    dst_notes,
    interval_preview,
    schedule_next_fire,
)


def beat_fires(expr: str, zone: str, after: datetime, until: datetime) -> list[datetime]:
    """The oracle: ask beat's schedule `is_due` at every minute, as beat's tick would."""
    tz = zoneinfo.ZoneInfo(zone)
    schedule = RepeatSafeCrontab(tz=tz, **parse_cron(expr))
    fires, last, now = [], after, after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while now <= until:
        schedule.nowfun = lambda now=now: now.astimezone(tz)
        if schedule.is_due(last).is_due:
            fires.append(now)
            last = now
        now += timedelta(minutes=1)
    return fires


def shown(fires: list[datetime]) -> list[str]:
    return [f.strftime(TIME_FORMAT) for f in fires]


def test_cron_is_described_in_words() -> None:
    assert (
        cron_words("*/15 9-17 * * 1-5") == "Every 15 minutes, between 09:00 and 17:59, Monday through Friday"
    )
    assert cron_words("30 2 * * *") == "At 02:30"


def test_next_five_fire_times_are_given_in_the_schedules_own_zone() -> None:
    after = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)  # a Friday, two days before Berlin's spring change
    assert shown(cron_next_fires("0 9 * * 1-5", "Europe/Berlin", after=after)) == [
        "Mon 30 Mar 2026 09:00 CEST",
        "Tue 31 Mar 2026 09:00 CEST",
        "Wed 01 Apr 2026 09:00 CEST",
        "Thu 02 Apr 2026 09:00 CEST",
        "Fri 03 Apr 2026 09:00 CEST",
    ]
    assert shown(cron_next_fires("0 9 * * 1-5", "America/New_York", after=after, count=1)) == [
        "Fri 27 Mar 2026 09:00 EDT"  # 12:00 UTC is 08:00 in New York
    ]


CHANGES = {  # an instant shortly before each DST change of the zone in 2026
    ("Europe/Berlin", "spring"): datetime(2026, 3, 28, 22, 0, tzinfo=UTC),
    ("Europe/Berlin", "autumn"): datetime(2026, 10, 24, 22, 0, tzinfo=UTC),
    ("America/New_York", "spring"): datetime(2026, 3, 8, 4, 0, tzinfo=UTC),
    ("America/New_York", "autumn"): datetime(2026, 11, 1, 3, 0, tzinfo=UTC),
}


@pytest.mark.parametrize("expr", ["30 2 * * *", "*/20 * * * *", "0 1-3 * * *", "15 2 * * 0"])
@pytest.mark.parametrize(("zone", "season"), list(CHANGES))
def test_fire_times_are_the_ones_beat_fires_across_dst_changes(expr: str, zone: str, season: str) -> None:
    after = CHANGES[zone, season]
    expected = beat_fires(expr, zone, after, after + timedelta(hours=30))[:5]
    assert expected
    # Compared in UTC: an aware time inside a repeated hour never equals one in another zone.
    assert [
        f.astimezone(UTC) for f in cron_next_fires(expr, zone, after=after, count=len(expected))
    ] == expected


def test_a_time_the_spring_change_skips_gets_a_note_saying_beat_runs_it_an_hour_later() -> None:
    notes = dst_notes("30 2 * * *", "Europe/Berlin", after=datetime(2026, 3, 1, tzinfo=UTC), days=60)
    assert notes == [
        "Sun 29 Mar 2026: clocks go forward from 02:00 to 03:00 (CET→CEST); "
        "02:30 does not exist and runs at 03:30 CEST instead."
    ]
    spring = cron_next_fires("30 2 * * *", "Europe/Berlin", after=datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    assert shown(spring[:2]) == ["Sun 29 Mar 2026 03:30 CEST", "Mon 30 Mar 2026 02:30 CEST"]


def test_times_the_spring_change_skips_outright_are_named_as_skipped() -> None:
    notes = dst_notes("*/15 * * * *", "Europe/Berlin", after=datetime(2026, 3, 1, tzinfo=UTC), days=60)
    assert notes == [
        "Sun 29 Mar 2026: clocks go forward from 02:00 to 03:00 (CET→CEST); "
        "02:00, 02:15, 02:30, 02:45 do not exist and are skipped."
    ]


def test_a_time_the_autumn_change_repeats_gets_a_note_saying_it_runs_once() -> None:
    notes = dst_notes("30 2 * * *", "Europe/Berlin", after=datetime(2026, 10, 1, tzinfo=UTC), days=60)
    assert notes == [
        "Sun 25 Oct 2026: clocks go back from 03:00 to 02:00 (CEST→CET); "
        "02:30 happens twice and runs once (the first time, CEST)."
    ]
    autumn = beat_fires(
        "30 2 * * *",
        "Europe/Berlin",
        datetime(2026, 10, 24, 20, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 4, 0, tzinfo=UTC),
    )
    assert [f.astimezone(UTC).strftime("%H:%M") for f in autumn] == ["00:30"], "once: 02:30 CEST only"


def test_seen_during_the_repeated_hour_the_next_fire_is_after_it_never_in_the_past() -> None:
    second_pass = datetime(2026, 10, 25, 1, 10, tzinfo=UTC)  # 02:10 CET, after 02:30 CEST ran
    assert shown(cron_next_fires("30 2 * * *", "Europe/Berlin", after=second_pass, count=2)) == [
        "Mon 26 Oct 2026 02:30 CET",
        "Tue 27 Oct 2026 02:30 CET",
    ]
    assert shown(cron_next_fires("*/15 * * * *", "Europe/Berlin", after=second_pass, count=1)) == [
        "Sun 25 Oct 2026 03:00 CET"
    ]


def test_a_schedule_no_dst_change_touches_gets_no_note() -> None:
    assert dst_notes("0 12 * * *", "Europe/Berlin") == []
    assert dst_notes("30 2 * * *", "UTC") == []
    assert dst_notes("30 2 * * *", "Asia/Tokyo") == []


def test_the_preview_names_the_coming_dst_change_for_a_daily_run_in_a_dst_zone() -> None:
    preview = cron_preview("30 2 * * *", "Europe/Berlin")
    assert (preview.words, len(preview.fires), preview.error) == ("At 02:30", 5, "")
    assert len(preview.notes) == 2, "Berlin changes clocks twice a year"


def test_a_bad_expression_or_zone_comes_back_as_an_error_not_an_exception() -> None:
    assert "Invalid cron expression" in cron_preview("61 * * * *", "UTC").error
    assert "5 fields" in cron_preview("* * *", "UTC").error
    assert "not an IANA time zone" in cron_preview("* * * * *", "Mars/Olympus_Mons").error


@pytest.mark.django_db
def test_next_fire_of_interval_one_shot_and_disabled_schedules(make_client) -> None:
    client = make_client()
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    interval = SyncSchedule(client=client, kind="interval", every=5, period="minutes")
    assert schedule_next_fire(interval, now=now) == now + timedelta(minutes=5)
    once = SyncSchedule(client=client, kind="once", run_at=now + timedelta(days=1))
    assert schedule_next_fire(once, now=now) == now + timedelta(days=1)
    assert schedule_next_fire(once, now=now + timedelta(days=2)) is None, "a past one-shot never fires again"
    disabled = SyncSchedule(client=client, kind="cron", cron="* * * * *", enabled=False)
    assert schedule_next_fire(disabled, now=now) is None


def test_an_interval_shows_its_next_five_fire_times_one_interval_apart() -> None:
    first = datetime(2026, 12, 7, 2, 52, tzinfo=UTC)

    preview = interval_preview(6, "hours", first=first)

    assert preview.words == "Every 6 hours" and not preview.error
    assert [f - first for f in preview.fires] == [timedelta(hours=6 * i) for i in range(5)]
    assert interval_preview(1, "days", first=first).words == "Every 1 day"
    assert interval_preview("0", "hours").error == "'every' must be a whole number from 1 up."
    assert interval_preview(5, "fortnights").error.startswith("'period' must be one of: days, hours")
