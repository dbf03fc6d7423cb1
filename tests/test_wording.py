"""The admin says counts, statuses and events in words."""

from syncers.wording import counted, event_label, run_status_label


def test_codes_read_as_words_in_lists() -> None:
    assert run_status_label("skipped_paused") == "skipped (paused)"
    assert run_status_label("succeeded") == "succeeded"
    assert event_label("first_failure") == "first failure"
    assert (counted(1, "client"), counted(2, "client"), counted(0, "entry", "entries")) == (
        "1 client",
        "2 clients",
        "0 entries",
    )
