"""The admin says counts, statuses and events in words."""

from datetime import UTC, datetime, timedelta

from syncers.console.runs import SyncRunAdmin
from syncers.models import SyncRun
from syncers.wording import ago, counted, event_label, run_status_label


def test_codes_read_as_words_in_lists() -> None:
    assert run_status_label("skipped_paused") == "skipped (paused)"
    assert run_status_label("succeeded") == "succeeded"
    assert event_label("first_failure") == "first failure"
    assert (counted(1, "client"), counted(2, "client"), counted(0, "entry", "entries")) == (
        "1 client",
        "2 clients",
        "0 entries",
    )


def test_how_long_ago_reads_as_words_never_zero_minutes() -> None:
    now = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    assert ago(now - timedelta(seconds=20), now) == "just now"
    assert ago(now - timedelta(minutes=1), now) == "1\xa0minute ago"  # Django's timesince: no break inside
    assert ago(now - timedelta(hours=2, minutes=5), now) == "2\xa0hours ago"  # the largest unit only


def test_a_runs_counts_in_the_run_list_say_page_or_pages() -> None:
    one = SyncRunAdmin.counts(None, SyncRun(fetched=100, pages=1, created=100))  # type: ignore[arg-type]
    assert "(1 page)" in one and "100 new" in one
    assert "(3 pages)" in SyncRunAdmin.counts(None, SyncRun(pages=3))  # type: ignore[arg-type]
