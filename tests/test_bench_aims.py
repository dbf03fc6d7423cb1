"""`make bench` ends with issue 20's aims and whether this run met each (bench.__main__.aims_table):
ratios to a LIMIT are the LIMIT's wall time over the row's, ratios to a first sync the row's
over the first sync's, and an unchanged re-sync that writes a row fails its aim."""

from __future__ import annotations

from bench.__main__ import aims_table


def run(**walls: float) -> dict[str, dict[str, float]]:
    rows = {
        "limit": 2.0, "first_sync": 2.5, "unchanged_resync": 1.0, "changed_resync": 1.5,
        "typed_limit": 3.0, "dest_first_sync": 5.0, "dest_unchanged_resync": 2.0,
    }  # fmt: skip
    rows.update(walls)
    return {name: {"wall_s": wall, "rows_written": 0} for name, wall in rows.items()}


def verdicts(results: dict) -> dict[str, str]:
    return {line[:34].strip(): line.split()[-1] for line in aims_table(results).splitlines()[1:]}


def test_each_aim_is_met_or_not_by_this_runs_ratio() -> None:
    met = verdicts(run())
    assert met["first sync x LIMIT"] == "yes"  # 2.0 / 2.5 = 0.80
    assert met["unchanged re-sync x first sync"] == "yes"  # 1.0 / 2.5 = 0.40
    assert met["model first sync x typed LIMIT"] == "yes"  # 3.0 / 5.0 = 0.60

    slower = verdicts(run(first_sync=2.6, unchanged_resync=1.4, dest_unchanged_resync=2.6))
    assert slower["first sync x LIMIT"] == "NO"  # 0.77
    assert slower["unchanged re-sync x first sync"] == "NO"  # 0.54
    assert slower["model unchanged x its first sync"] == "NO"  # 0.52


def test_the_dashboard_aim_is_under_300_ms_when_the_bench_measured_it() -> None:
    results = run()
    assert "dashboard ms (100,000 runs)" not in verdicts(results)  # not measured: no row
    results["dashboard"] = {"runs": 100_000, "render_ms_median": 98.6}
    assert verdicts(results)["dashboard ms (100,000 runs)"] == "yes"
    results["dashboard"]["render_ms_median"] = 312.0
    assert verdicts(results)["dashboard ms (100,000 runs)"] == "NO"


def test_an_unchanged_resync_that_writes_rows_misses_its_aim() -> None:
    results = run()
    results["unchanged_resync"]["rows_written"] = 3
    assert verdicts(results)["unchanged_resync rows written"] == "NO"
    assert verdicts(results)["dest_unchanged_resync rows written"] == "yes"


def test_the_databases_cpu_counts_a_backend_that_ended_between_the_samples() -> None:
    """A run's own connections end with it: their CPU after the first sample still counts
    (the postmaster's reaped children's total grows by the ended backend's whole CPU)."""
    from bench.pipeline import _postgres_delta

    before = {"_pg:101": 5.0, "_pg:102": 1.0, "_pg:reaped": 40.0}
    after = {"_pg:101": 7.5, "_pg:reaped": 43.0}  # 102 ended having used 3.0 s in all

    assert _postgres_delta(before, after) == 2.5 + (3.0 - 1.0)
    assert _postgres_delta(before, {**after, "_pg:103": 0.5}) == 2.5 + 0.5 + 2.0  # one started
