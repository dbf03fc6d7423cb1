"""`make test` does all its own set-up on a fresh machine, as docs/tests.md promises: it installs
Debian's chromium for the browser tests when it is missing (as .ci/run does), and keeps its
logs and screenshots in var-test/, never in the running site's var/.

apt-get (and sudo) are replaced on PATH by scripts that record their arguments: the test
checks what the Makefile asks the package manager for, without installing anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make(*args: str, path: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path}
    return subprocess.run(["make", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_make_test_installs_debian_chromium_when_it_is_missing_and_only_then(tmp_path: Path) -> None:
    bin_dir, calls = tmp_path / "bin", tmp_path / "apt-get.calls"
    bin_dir.mkdir()
    (bin_dir / "apt-get").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    (bin_dir / "sudo").write_text('#!/bin/sh\nexec "$@"\n')  # when not root
    for script in bin_dir.iterdir():
        script.chmod(0o755)
    path = f"{bin_dir}:{os.environ['PATH']}"

    missing = make("chromium", "CHROMIUM=/nonexistent/chromium", path=path)
    assert missing.returncode == 0, missing.stderr
    assert calls.read_text().splitlines() == ["update -qq", "install -y -qq chromium"]

    calls.unlink()
    present = make("chromium", f"CHROMIUM={sys.executable}", path=path)
    assert present.returncode == 0 and not calls.exists(), "nothing installed when it is there"

    planned = make("-n", "test", "CHROMIUM=/nonexistent/chromium", path=path).stdout
    assert "apt-get install -y -qq chromium" in planned, "make test depends on the chromium step"
    assert f"XCORESITE_VAR_DIR={ROOT}/var-test " in planned, "tests log and screenshot into var-test/"
