"""`python -m tests.faults.protections` (see the package's docstring)."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .mutations import FAULT_TESTS, MUTATIONS, NO_PROTECTION
from .report import clip, list_mutations, print_table, resources, write_markdown
from .runner import Report, Row, apply, check_drift, export_head, fault_tests, git, run_test, say, short


# --- Entry point ------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.faults.protections",
        description="Check that each fault test fails with its protection switched off.",
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help="these mutations only (see --list)")
    parser.add_argument("--test", nargs="+", metavar="TEXT", help="only node ids containing one of these")
    parser.add_argument("--list", action="store_true", help="list the mutations (and check they apply)")
    parser.add_argument("--baseline", action="store_true", help="first run every selected test unmutated")
    parser.add_argument("--probes", action="store_true", help="also run the single-defence probes")
    return parser.parse_args(argv)


def select(args: argparse.Namespace) -> list[Row]:
    rows = _select(args)
    if args.test:
        rows = [r for r in rows if any(text in r.test for text in args.test)]
    return rows


def _select(args: argparse.Namespace) -> list[Row]:
    by_name = {m.name: m for m in MUTATIONS}
    if args.only:
        unknown = [n for n in args.only if n not in by_name]
        if unknown:
            raise SystemExit(f"unknown mutation(s) {unknown}; known: {', '.join(by_name)}")
        chosen = [m for m in MUTATIONS if m.name in args.only]  # the baseline ("none") first
        return [Row(m, t, "pass" if t in m.passes else "fail") for m in chosen for t in m.fails + m.passes]
    rows = [Row(m, t, "fail") for m in MUTATIONS for t in m.fails]
    if args.probes:
        rows += [Row(m, t, "pass") for m in MUTATIONS if m.name != "none" for t in m.passes]
    if args.baseline:
        wanted = {r.test for r in rows}
        rows = [Row(by_name["none"], t, "pass") for t in FAULT_TESTS if t in wanted] + rows
    return rows


@contextlib.contextmanager
def exported_head() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="protections-head-"))
    try:
        export_head(folder)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = Report(commit=git("rev-parse", "HEAD").strip(), dirty=bool(git("status", "--porcelain").strip()))
    with exported_head() as pristine:
        if args.list:
            list_mutations([m for m in MUTATIONS if not args.only or m.name in args.only], pristine)
            return 0
        rows = select(args)
        mutations = list(dict.fromkeys(r.mutation for r in rows))
        drift = check_drift(mutations, pristine)
        suite = fault_tests(pristine)
        gone = sorted(({r.test for r in rows} | set(NO_PROTECTION)) - suite)
        report.uncovered = sorted(suite - {t for m in MUTATIONS for t in m.fails} - set(NO_PROTECTION))
        if drift or gone:
            for problem in drift.values():
                say(f"DRIFT (the code moved; update the mutation): {problem}")
            for node in gone:
                say(f"NO SUCH TEST: {node}")
            return 2
        if report.dirty:
            say("warning: uncommitted changes are not tested; the copies are of HEAD")
        for node in report.uncovered:
            say(f"warning: no mutation expects this fault test to fail: {node}")
        var_base = Path(os.environ.get("XCORESITE_VAR_DIR") or tempfile.gettempdir() + "/protections-var")
        say(f"{len(rows)} run(s) of {len(mutations)} mutation(s) on {report.commit[:12]}; {resources()}")
        report.rows = rows
        broken: set[str] = set()  # tests the baseline (run first, with --baseline) saw fail
        for mutation in mutations:
            tree = Path(tempfile.mkdtemp(prefix=f"protections-{mutation.name}-"))
            try:
                shutil.copytree(pristine, tree, dirs_exist_ok=True)
                apply(mutation, tree)
                for row in (r for r in rows if r.mutation is mutation):
                    if row.test in broken and mutation.name != "none":
                        row.result, row.evidence = "BASELINE", "fails without the mutation too"
                        continue
                    say(f"{mutation.name}: {short(row.test)} (expect {row.expect}) ...")
                    run_test(row, tree, var_base)
                    if mutation.name == "none" and not row.ok:
                        broken.add(row.test)  # a failure under mutation would mean nothing
                    say(f"  {row.verdict} in {row.seconds:.0f}s: {clip(row.evidence, 160)}")
                    write_markdown(report)
            finally:
                shutil.rmtree(tree, ignore_errors=True)
    write_markdown(report, total=True)
    print_table(report)
    probes = [r for r in rows if r.expect == "pass" and r.mutation.name != "none"]
    checks = [r for r in rows if r not in probes]
    if any(r.result in ("FAILED", "PASSED") and not r.ok for r in checks):
        return 1
    if any(r.result not in ("FAILED", "PASSED") for r in checks):
        return 2
    if report.uncovered and not (args.only or args.test):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
