"""Running one fault test on a mutated copy of the tree, and what it showed."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .mutations import OTHER_TESTS, Mutation

ROOT = Path(__file__).resolve().parents[3]
REPORT = ROOT / "var" / "protections.md"
LOG_DIR = ROOT / "var" / "protections"
RUN_TIMEOUT = 20 * 60  # one test; the slowest fault test's waits add up to well under this
WAIT_FOR_OTHERS = 5 * 60  # then run anyway (and say so in the table)


# --- Running ----------------------------------------------------------------------------
@dataclass
class Row:
    mutation: Mutation
    test: str
    expect: str  # "fail" or "pass"
    result: str = ""  # FAILED, PASSED, ERROR, SKIPPED, TIMEOUT, BASELINE
    evidence: str = ""
    seconds: float = 0.0
    waited: str = ""  # who we waited for, or that we gave up waiting
    log: Path | None = None

    @property
    def ok(self) -> bool:
        return self.result == ("FAILED" if self.expect == "fail" else "PASSED")

    @property
    def verdict(self) -> str:
        if self.result in ("FAILED", "PASSED"):
            if self.ok:
                return "failed as expected" if self.expect == "fail" else "passed as expected"
            return "STILL PASSES" if self.expect == "fail" else "FAILED UNEXPECTEDLY"
        if self.result == "BASELINE":
            return "NOT CHECKED (baseline fails)"
        return f"NOT CHECKED ({self.result.lower()})"


@dataclass
class Report:
    commit: str
    rows: list[Row] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    dirty: bool = False
    uncovered: list[str] = field(default_factory=list)  # fault tests no mutation expects to fail


class Drift(Exception):
    """A mutation's text is not found exactly once: the code it names has moved."""


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def export_head(dest: Path) -> None:
    """The committed tree, without uncommitted changes or untracked files."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", "HEAD"], cwd=ROOT, check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)


def apply(mutation: Mutation, tree: Path) -> None:
    for edit in mutation.edits:
        path = tree / edit.path
        text = path.read_text()
        found = text.count(edit.old)
        if found != 1:
            raise Drift(f"{mutation.name}: {edit.path} has {found} matches (not 1) for {edit.old!r}")
        path.write_text(text.replace(edit.old, edit.new))


def check_drift(mutations: list[Mutation], pristine: Path) -> dict[str, str]:
    """Mutation name -> why it no longer applies to the committed tree."""
    problems = {}
    for mutation in mutations:
        scratch = Path(tempfile.mkdtemp(prefix="protections-drift-"))
        try:
            for edit in mutation.edits:
                target = scratch / edit.path
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.exists():
                    shutil.copy2(pristine / edit.path, target)
            apply(mutation, scratch)
            for edit in mutation.edits:  # a mutation must not break the file it edits
                compile((scratch / edit.path).read_text(), edit.path, "exec")
        except (Drift, FileNotFoundError, SyntaxError) as exc:
            problems[mutation.name] = str(exc)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return problems


def fault_tests(tree: Path) -> set[str]:
    """Every node id of the fault suite in `tree`, and those of OTHER_TESTS that exist there
    (one missing node id would make pytest collect nothing, so whole files are collected)."""
    found = set(_collect(tree, "-m", "slow", "tests/faults"))
    files = sorted({node.split("::")[0] for node in OTHER_TESTS})
    return found | (set(_collect(tree, *files)) & set(OTHER_TESTS)) if files else found


def _collect(tree: Path, *args: str) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="protections-collect-") as var_dir:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", *args],
            cwd=tree,
            env=child_env(Path(var_dir)),
            capture_output=True,
            text=True,
        )
    return [line for line in result.stdout.split() if line.startswith("tests/") and "::" in line]


def pytest_command(node_id: str) -> list[str]:
    """A fault test is selected with `-m slow`; one of OTHER_TESTS (unmarked) without it."""
    marker = ["-m", "slow"] if node_id.startswith("tests/faults/") else []
    return [sys.executable, "-m", "pytest", *marker, node_id, "-q", "-x", "-rs"]


def child_env(var_dir: Path, extra: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the copy's code, nothing else
    env["XCORESITE_VAR_DIR"] = str(var_dir)
    env.update(dict(extra))
    return env


def _ppid(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


def _mine(pid: int) -> bool:
    """`pid` is this process or one of its descendants."""
    seen = 0
    while pid > 1 and seen < 64:
        if pid == os.getpid():
            return True
        pid, seen = _ppid(pid), seen + 1
    return False


def others_running_slow_tests() -> list[str]:
    out = subprocess.run(["pgrep", "-af", "pytest.*slow"], capture_output=True, text=True).stdout
    busy = []
    for line in out.splitlines():
        pid, _, cmd = line.partition(" ")
        if pid.isdigit() and not _mine(int(pid)) and "not slow" not in cmd:
            busy.append(line)
    return busy


def wait_for_turn() -> str:
    """Wait while someone else's slow tests run (timings decide some faults); give up after
    WAIT_FOR_OTHERS. Returns what happened, for the table."""
    start = time.monotonic()
    busy = others_running_slow_tests()
    if not busy:
        return ""
    say(f"  waiting for {len(busy)} other slow test process(es): {busy[0][:120]}")
    while busy and time.monotonic() - start < WAIT_FOR_OTHERS:
        time.sleep(5)
        busy = others_running_slow_tests()
    waited = time.monotonic() - start
    if busy:
        say(f"  gave up waiting after {waited:.0f}s; running alongside: {busy[0][:120]}")
        return f"ran alongside other slow tests (waited {waited:.0f}s)"
    return f"waited {waited:.0f}s for other slow tests"


def kill_leftovers(var_dir: Path) -> None:
    """Processes a killed pytest left behind (workers run in sessions of their own): ours are
    exactly those whose environment names this row's var dir. Killed by pid."""
    marker = f"XCORESITE_VAR_DIR={var_dir}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in environ:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGCONT)
                os.kill(int(proc.name), signal.SIGKILL)


SUMMARY = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)\b")


def run_test(row: Row, tree: Path, var_base: Path) -> None:
    var_dir = var_base / slug(row)
    shutil.rmtree(var_dir, ignore_errors=True)
    var_dir.mkdir(parents=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    row.log = LOG_DIR / f"{slug(row)}.log"
    row.waited = wait_for_turn()
    cmd = pytest_command(row.test)
    start = time.monotonic()
    with row.log.open("w") as out:
        out.write(f"$ {' '.join(cmd)}\n# in {tree}\n")
        out.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=tree,
            env=child_env(var_dir, row.mutation.env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so a timeout can end pytest and its children by group
        )
        try:
            proc.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            row.result = "TIMEOUT"
    kill_leftovers(var_dir)
    row.seconds = time.monotonic() - start
    text = row.log.read_text(errors="replace")
    counts = outcome_counts(text)
    if not row.result:
        if counts.get("error") or counts.get("xfailed") or counts.get("xpassed"):
            row.result = "ERROR"
        elif counts.get("failed"):
            row.result = "FAILED"
        elif counts.get("skipped"):
            row.result = "SKIPPED"
        elif counts.get("passed"):
            row.result = "PASSED"
        else:
            row.result = "ERROR"
    row.evidence = evidence(text, row.result)
    # var_dir stays until this row runs again: its logs/ hold the workers' and beat's output.


def outcome_counts(text: str) -> dict[str, int]:
    """{"failed": 1, ...} from pytest's closing summary line ("1 failed, 2 warnings in 80.1s")."""
    for line in reversed(text.splitlines()):
        found = SUMMARY.findall(line)
        if found and re.search(r" in [\d.]+s", line):
            return {kind.removesuffix("s") if kind == "errors" else kind: int(n) for n, kind in found}
    return {}


def evidence(text: str, result: str) -> str:
    """The first assertion line pytest printed (`E ...`), or why the test did not run."""
    lines = text.splitlines()
    if result == "SKIPPED":
        return next((line for line in lines if line.startswith("SKIPPED")), "skipped")
    if result == "TIMEOUT":
        return f"no result after {RUN_TIMEOUT}s"
    found = next((line for line in lines if re.match(r"E\s+\S", line)), "")
    return re.sub(r"\s+", " ", found[1:]).strip() if found else ""


def short(node_id: str) -> str:
    """tests/faults/test_workers.py::test_a_pool_child... -> workers.a_pool_child..."""
    module, _, name = node_id.partition("::")
    return f"{Path(module).stem.removeprefix('test_')}.{name.removeprefix('test_')}"


def slug(row: Row) -> str:
    """A file name for the row (no brackets: they are shell globs)."""
    return re.sub(r"[^A-Za-z0-9_.+\-]", "_", f"{row.mutation.name}--{short(row.test)}".rstrip("]"))[:150]


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
