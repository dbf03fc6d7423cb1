"""README's and docs/performance.md's benchmark tables quote the run kept in bench/results.json
(issue 20: "README's performance table is from the final run"): each wall time and ratio
printed there is that run's, so a new bench run without new tables fails here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = json.loads((ROOT / "bench" / "results.json").read_text())


def table_rows(text: str, header: str) -> list[list[str]]:
    """The body rows' cells of every markdown table whose header starts with `header`, in order."""
    rows: list[list[str]] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith(header):
            continue
        for row in lines[i + 2 :]:
            if not row.startswith("|"):
                break
            rows.append([cell.strip() for cell in row.strip("|").split("|")])
    return rows


def number(cell: str) -> float:
    found = re.search(r"\d[\d,]*\.?\d*", cell)
    assert found, cell
    return float(found.group().replace(",", ""))


README_ROWS = {
    "LIMIT: one process": "limit",
    "**first sync**": "first_sync",
    "unchanged re-sync": "unchanged_resync",
    "10 % changed": "changed_resync",
    "typed LIMIT": "typed_limit",
    "**model destination, first sync**": "dest_first_sync",
    "model destination, unchanged": "dest_unchanged_resync",
}


def test_readmes_performance_table_is_the_kept_runs() -> None:
    rows = table_rows((ROOT / "README.md").read_text(), "| measurement | wall | ratio | aim |")
    assert len(rows) == len(README_ROWS)
    wall = {key: RESULTS[key]["wall_s"] for key in README_ROWS.values()}
    expected_ratio = {
        "limit": 1.0,
        "first_sync": wall["limit"] / wall["first_sync"],
        "unchanged_resync": wall["unchanged_resync"] / wall["first_sync"],
        "changed_resync": wall["changed_resync"] / wall["first_sync"],
        "typed_limit": 1.0,
        "dest_first_sync": wall["typed_limit"] / wall["dest_first_sync"],
        "dest_unchanged_resync": wall["dest_unchanged_resync"] / wall["dest_first_sync"],
    }
    for label, cell_wall, ratio, _aim in rows:
        key = next(k for prefix, k in README_ROWS.items() if label.startswith(prefix))
        assert cell_wall == f"{wall[key]:.2f} s", label
        assert number(ratio) == pytest.approx(round(expected_ratio[key], 2)), label


DOC_ROWS = {
    "LIMIT (fetch": "limit",
    "**first sync**": "first_sync",
    "unchanged re-sync": "unchanged_resync",
    "10 % changed": "changed_resync",
    "typed LIMIT": "typed_limit",
}
MODEL_ROWS = {
    "typed LIMIT": "typed_limit",
    "**first sync**": "dest_first_sync",
    "unchanged re-sync": "dest_unchanged_resync",
    "10 % changed": "dest_changed_resync",
    "1 % deleted": "dest_deleted_resync",
}


@pytest.mark.parametrize(("which", "results"), [(0, RESULTS), (1, RESULTS["million"])])
def test_the_performance_pages_tables_are_the_kept_runs(which: int, results: dict) -> None:
    """docs/performance.md: the latest 100,000-record run, then the million-record run."""
    text = (ROOT / "docs" / "performance.md").read_text()
    generic = table_rows(text, "| measurement | wall | records/s | \u00d7 LIMIT |")
    model = table_rows(text, "| measurement | wall | records/s | \u00d7 typed LIMIT |")
    generic, model = generic[which * 5 : which * 5 + 5], model[which * 5 : which * 5 + 5]
    for rows, labels in ((generic, DOC_ROWS), (model, MODEL_ROWS)):
        quoted = {}
        for row in rows:
            key = next((k for prefix, k in labels.items() if row[0].startswith(prefix)), None)
            if key is not None:
                quoted[key] = row
        assert len(quoted) >= 4
        for key, row in quoted.items():
            assert row[1] == f"{results[key]['wall_s']:.2f} s", (which, key)
            assert number(row[2]) == round(results[key]["records_per_s"]), (which, key)
