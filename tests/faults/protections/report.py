"""The table of rows: as markdown in var/protections.md and on stdout."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from .mutations import NO_PROTECTION, Mutation
from .runner import REPORT, ROOT, Report, check_drift, say, short

# --- Reporting --------------------------------------------------------------------------


def clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def resources() -> str:
    def shown(key: str, default: str) -> str:
        value = os.environ.get(key)
        if not value:
            return default
        parts = urlsplit(value)
        return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"

    return (
        f"database {shown('DATABASE_URL', 'SQLite (embedded)')}, broker "
        f"{shown('CELERY_BROKER_URL', 'filesystem (embedded)')}, leases {shown('REDIS_URL', 'database')}"
    )


def write_markdown(report: Report, total: bool = False) -> None:
    elapsed = time.monotonic() - report.started
    lines = [
        "# Fault tests with their protection switched off",
        "",
        f"`python -m tests.faults.protections` on commit {report.commit[:12]}"
        + (" (the working tree had uncommitted changes; they were NOT tested)" if report.dirty else "")
        + f", {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {resources()}. "
        + (
            f"Total run time {elapsed / 60:.1f} min."
            if total
            else f"Running ({elapsed / 60:.1f} min so far)."
        ),
        "",
        "A row checks out when the test FAILS with the mutation applied (baseline and probe rows: "
        "when it passes). Evidence: the first `E` line of pytest's report; full output in "
        "`var/protections/<mutation>--<test>.log`.",
        "",
        "| Mutation | Protection switched off | Where | Test | Expect | Result | Evidence | Time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report.rows:
        evidence_text = row.evidence + (f" ({row.waited})" if row.waited else "")
        lines.append(
            "| "
            + " | ".join(
                _cell(c)
                for c in (
                    f"`{row.mutation.name}`",
                    row.mutation.protection + (f" *{row.mutation.note}*" if row.mutation.note else ""),
                    where(row.mutation),
                    f"`{short(row.test)}`",
                    row.expect,
                    row.verdict if row.result else "…",
                    clip(evidence_text, 300),
                    f"{row.seconds:.0f}s" if row.result else "",
                )
            )
            + " |"
        )
    lines += ["", "Fault tests with nothing to switch off:", ""]
    lines += [f"- `{short(node)}`: {why}" for node, why in NO_PROTECTION.items()]
    if report.uncovered:
        lines += ["", "Fault tests no mutation expects to fail (add a row to MUTATIONS):", ""]
        lines += [f"- `{node}`" for node in report.uncovered]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n")


def where(mutation: Mutation) -> str:
    """What the mutation touches: the files it edits, the environment it sets."""
    places = list(dict.fromkeys(f"`{e.path}`" for e in mutation.edits))
    places += [f"`{k}={v}`" for k, v in mutation.env]
    return ", ".join(places) or "nothing"


def print_table(report: Report) -> None:
    say("")
    say(f"{'mutation':32} {'test':58} {'result':22} evidence")
    for row in report.rows:
        say(
            f"{row.mutation.name:32} {clip(short(row.test), 58):58} {row.verdict:22} {clip(row.evidence, 140)}"
        )
    say(f"\ntotal {(time.monotonic() - report.started) / 60:.1f} min; table in {REPORT.relative_to(ROOT)}")


def list_mutations(selected: list[Mutation], pristine: Path | None) -> None:
    drift = check_drift(selected, pristine) if pristine is not None else {}
    for m in selected:
        state = f"DRIFT: {drift[m.name]}" if m.name in drift else "applies"
        say(f"{m.name}  [{state}]\n  off: {m.protection}")
        for test in m.fails:
            say(f"  must fail: {short(test)}")
        for test in m.passes:
            say(f"  keeps passing: {short(test)}")
        if m.note:
            say(f"  note: {m.note}")
