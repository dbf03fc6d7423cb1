"""Each fault test must fail when the protection it tests is switched off (issue 9).

    python -m tests.faults.protections [--only NAME ...] [--test TEXT ...] [--list] [--baseline] [--probes]

For every row of MUTATIONS (`mutations.py`; the runner is `__main__.py`): export the committed tree (`git archive HEAD`) to a temporary
directory, switch one protection off there (exact text replacements in product files, each of
which must match exactly once, or environment overrides), then run each fault test that relies
on it on its own (`pytest -m slow <node id> -q -x`) and expect it to FAIL; the first `E` line
of pytest's report is kept as evidence. Nothing else is run. The table goes to stdout and to
var/protections.md, pytest's full output to var/protections/<row>.log.

A promise defended twice (say a lost message re-sent both by the reconciler and by the next
run's adoption) gets one mutation that switches both defences off, and a note saying so.
`--probes` also runs the documented single-defence mutations, expected to keep passing, which
is how "defended twice" was established; `--baseline` first runs every selected test on the
unmutated tree, which must pass for a failure under mutation to mean anything.

Resources come from the environment, as for `make test-faults` (DATABASE_URL, CELERY_BROKER_URL,
REDIS_URL); every test gets its own XCORESITE_VAR_DIR under $XCORESITE_VAR_DIR (or a temporary
folder). Before each test it waits (five minutes at most) while someone else's `pytest ... slow`
is running, so a loaded machine does not pass for a caught breach.

Exit status: 0 when every test failed with its protection off (and, with --baseline, passed
without the mutation); 1 when one did not; 2 when a row could not be checked (the code a
mutation names has moved, a node id is gone, a test errored, was skipped or timed out) or, on
a full run, when a fault test has no row and no NO_PROTECTION entry. A new fault test needs
one more Mutation (or one more node id in an existing one's `fails`).
"""
