"""The admin says counts, statuses and events in words."""

from datetime import UTC, datetime, timedelta

from syncers.console.runs import SyncRunAdmin
from syncers.models import SyncRun
from syncers.wording import (
    ago,
    counted,
    deletions_approved,
    deletions_rejected,
    event_label,
    listed,
    run_status_label,
)


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


def test_a_deletion_decision_reads_as_a_sentence_in_the_api_command_and_admin() -> None:
    """The API's message, sync_deletions' line and the admin's message share these words: the
    destination's on_missing action ("delete", "soft") says what happened to the rows."""
    assert deletions_approved(1, 1, "delete") == "Approved 1 deletion: 1 row deleted"
    assert deletions_approved(3, 2, "soft") == "Approved 3 deletions: 2 rows soft-deleted"
    assert deletions_approved(2, 1, "soft") == "Approved 2 deletions: 1 row soft-deleted"
    assert deletions_rejected(1) == "Rejected 1 deletion; the row stays"
    assert deletions_rejected(4) == "Rejected 4 deletions; the rows stay"


def test_a_list_of_names_takes_its_noun_in_the_number_it_needs() -> None:
    assert listed("unknown key", ["colour"]) == "unknown key colour"
    assert listed("unknown key", ["colour", "size"]) == "unknown keys colour, size"
    assert listed("no column", ["a", "b"], "no columns") == "no columns a, b"
