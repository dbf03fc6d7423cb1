"""Test-side handle on a fakeapi subprocess: start it, steer it, stop it."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Self

_READY_PREFIX = "fakeapi listening on "
# Bypass *_proxy env vars: a proxy must never sit between tests and localhost.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class FakeApiError(RuntimeError):
    """Carries the server's error text, which urllib's HTTPError hides."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"fakeapi answered {status}: {message}")
        self.status = status


class FakeApi:
    """One running server per instance; usable as a context manager."""

    def __init__(self, url: str, process: subprocess.Popen[bytes]) -> None:
        self.url = url
        self.process = process

    @classmethod
    def start(cls, records: int = 250, seed: int = 1, page_delay: float = 0.0, port: int = 0) -> Self:
        """Block until the server is accepting, so tests never race its startup."""
        argv = [sys.executable, "-m", "fakeapi", "--port", str(port)]
        argv += ["--records", str(records), "--seed", str(seed)]
        argv += ["--page-delay", str(page_delay)]
        # stderr goes to a file: an unread pipe could fill up and stall the server.
        with tempfile.TemporaryFile() as errfile:
            process = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=errfile,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=Path(__file__).resolve().parent.parent,
            )
            stdout = process.stdout
            assert stdout is not None
            lines: queue.Queue[bytes] = queue.Queue()
            threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
            try:
                line = lines.get(timeout=15).decode().strip()
            except queue.Empty:
                line = ""
            if not line.startswith(_READY_PREFIX):
                _terminate(process)
                errfile.seek(0)
                stderr = errfile.read().decode(errors="replace")
                raise RuntimeError(f"fakeapi failed to start: {line!r}\n{stderr}")
        return cls(line.removeprefix(_READY_PREFIX), process)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with _OPENER.open(request, timeout=60) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raw = exc.read().decode(errors="replace")
            try:
                message = json.loads(raw).get("error", raw)
            except (ValueError, AttributeError):
                message = raw
            raise FakeApiError(exc.code, message) from None

    def reset(self, **kw: Any) -> dict[str, Any]:
        """Keys: records, seed, page_delay, fail_pages; omitted ones use CLI values."""
        return self._call("POST", "/_control/reset", kw)

    def update(
        self, ids: list[int], fields: dict[str, Any] | None = None, *, after: int | None = None
    ) -> Any:
        """Simulate upstream edits: bumps version/updated_at of those ids (now, or with `after`
        as for delete())."""
        return self._call("POST", "/_control/update", {"ids": ids, "fields": fields, "after": after})

    def touch(
        self,
        ids: list[int],
        fields: dict[str, Any] | None = None,
        at: str | None = None,
        *,
        after: int | None = None,
    ) -> str:
        """Edit these records so they all share one updated_at (`at`, or one minute after the
        latest one served) and return it: a tie group that straddles page boundaries. With
        `after` (as for delete()), `at` is required."""
        body = {"ids": ids, "fields": fields, "at": at, "after": after}
        return self._call("POST", "/_control/touch", body)["updated_at"]

    def replace(self, index: int, record: Any) -> Any:
        """Serve ``record`` verbatim at 0-based ``index``, to fake a broken upstream."""
        return self._call("POST", "/_control/replace", {"index": index, "record": record})

    def delete(self, ids: list[int], *, after: int | None = None) -> list[int]:
        """Stop listing these records (later ones move forward): now, or with `after`, between
        listing requests `after` and `after + 1` (all styles count), whatever the timing."""
        return self._call("POST", "/_control/delete", {"ids": ids, "after": after})["deleted"]

    def restore(self, ids: list[int]) -> list[int]:
        """List deleted records again at their old places (the source restored them)."""
        return self._call("POST", "/_control/restore", {"ids": ids})["restored"]

    def insert(
        self, at: int, count: int = 1, *, fields: dict[str, Any] | None = None, after: int | None = None
    ) -> list[int]:
        """List `count` new records (generated like the others, `fields` over them) from
        listing position `at` on (later ones move back): now, or with `after` as for delete().
        Returns their ids, known at once even when they appear later."""
        body = {"at": at, "count": count, "fields": fields, "after": after}
        return self._call("POST", "/_control/insert", body)["ids"]

    def gone(self) -> list[Any]:
        """Records deleted after a listing served them, at the version it served last: the
        oracle expects them stored, although records() no longer has them. A record deleted
        before any listing served it is not here (nobody could have stored it)."""
        return self._call("GET", "/_control/gone")

    def configure(self, **kw: Any) -> dict[str, Any]:
        """Change page_delay / fail_pages mid-test without losing data or counters."""
        return self._call("POST", "/_control/config", kw)

    def stats(self) -> dict[str, Any]:
        """How many product listing calls arrived (every style), /products calls per page
        number, since the last reset, and how many scheduled inserts/deletes still wait."""
        return self._call("GET", "/_control/stats")

    def records(self) -> list[Any]:
        """Everything the API lists now, in listing order, as an oracle for sync assertions."""
        return self._call("GET", "/_control/records")

    def auth(self, **kw: Any) -> dict[str, Any]:
        """Expected credentials of /auth/<kind>/... (see fakeapi.auth.DEFAULTS); revoke=True
        expires every issued OAuth token. Returns them with token_requests and rejected counts."""
        return self._call("POST", "/_control/auth", kw)

    def hits(self) -> list[tuple[float, str]]:
        """(unix time, path) of recent requests outside /_control, oldest first."""
        return [(t, p) for t, p in self._call("GET", "/_control/hits")["hits"]]

    def calls(self, path: str | None = None) -> list[dict[str, Any]]:
        """{"path", "query"} of recent requests outside /_control (optionally only `path`),
        oldest first; "query" maps each parameter to its last value."""
        calls = self._call("GET", "/_control/calls")["calls"]
        return [c for c in calls if path is None or c["path"] == path]

    def webhooks(self) -> list[dict[str, Any]]:
        """JSON bodies POSTed to /webhook since the last reset, oldest first."""
        return self._call("GET", "/_control/webhooks")["received"]

    def stop(self) -> None:
        """Idempotent, so both fixtures and __exit__ may call it."""
        _terminate(self.process)


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()
