"""Pipeline benchmark: the bulk-load LIMIT, a naive ORM loop, and xcoresite's full pipeline
through real Celery worker processes (first sync, unchanged re-sync, 10 % changed), all on
the same fake-API data in one run; then the typed LIMIT and the model destination
(bench/destination.py). Import after Django is set up (see bench/__main__.py)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
from django.db import connection, transaction

from fakeapi.control import FakeApi
from gateway.models import Connection
from syncers.models import SyncClient, SyncedRecord, SyncRun
from syncers.selectors import run_wait_final
from syncers.services import sync_run_request
from xcoresite.devstack import worker_command

ROOT = Path(__file__).resolve().parent.parent
PAGE = 1000


def reset_peak_rss() -> None:
    """Start this process's peak RSS afresh (Linux: clear_refs 5), so a LIMIT's row reports
    its own peak and not the highest of everything the bench process did before it."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the highest resident set size the process has had."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by every process, grouped by what it is: this bench's own
    processes by name, everything else (other work sharing the machine) as "other";
    machine_busy counts all of it. Also, under "_pg:<pid>" keys that cpu_delta consumes, each
    live backend of the bench's database and the postmaster's reaped children's total: a
    backend that ends between two samples (a run's own connections) still counts."""
    tick = os.sysconf("SC_CLK_TCK")
    markers, me = _groups(), str(os.getpid())
    groups: dict[str, float] = {}
    postmaster = None
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        group = "bench" if entry == me else next((name for name, marker in markers if marker in cmd), "other")
        used = (int(fields[11]) + int(fields[12])) / tick
        groups[group] = groups.get(group, 0.0) + used
        if group == "postgres":
            groups[f"_pg:{entry}"] = used
            postmaster = fields[1]  # every backend's parent
    if postmaster is not None:
        try:
            fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
            groups["_pg:reaped"] = (int(fields[13]) + int(fields[14])) / tick
        except OSError:
            pass
    busy = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    groups["machine_busy"] = (sum(busy) - busy[3] - busy[4]) / tick  # all but idle and iowait
    return groups


def _postgres_delta(before: dict[str, float], after: dict[str, float]) -> float:
    """The bench database's backends' CPU between the samples: the live ones' growth, plus
    what ended ones used after `before` (the postmaster adds a reaped backend's whole CPU to
    its children's total; what it had used by `before` is taken off). Backends of other
    databases that end in between count too: exact only on a quiet machine."""
    live = sum(v - before.get(k, 0.0) for k, v in after.items() if k.startswith("_pg:") and k != "_pg:reaped")
    ended = sum(v for k, v in before.items() if k.startswith("_pg:") and k != "_pg:reaped" and k not in after)
    reaped = after.get("_pg:reaped", 0.0) - before.get("_pg:reaped", after.get("_pg:reaped", 0.0))
    return live + max(reaped - ended, 0.0)


_NOT_OWN = ("other", "machine_busy")


def _groups() -> list[tuple[str, str]]:
    """Command-line markers: the backends of the bench's own database (PostgreSQL's shared
    WAL writer and checkpointer fall in "other"), its worker (named bench-<pid>), its fake
    API (started with this interpreter) and redis-server (shared with anyone on the machine);
    the bench process itself goes by its pid."""
    db = connection.settings_dict["NAME"]
    return [
        ("postgres", f" postgres {db} "),
        ("fake_api", f"{sys.executable} -m fakeapi"),
        ("workers", f"-n bench-{os.getpid()}@"),
        ("redis", "redis-server"),
    ]


def one_process_result(start: float, n: int, written: int, cpu: dict[str, float]) -> dict[str, Any]:
    """A LIMIT's row: wall time since `start` (perf_counter), rate, rows written, this process's
    peak RSS and the CPU spent since `cpu`."""
    wall = time.perf_counter() - start
    return {
        "wall_s": wall,
        "records": n,
        "records_per_s": n / wall,
        "rows_written": written,
        "peak_rss_mb": peak_rss_mb(os.getpid()),
        "cpu_s": cpu_delta(cpu),
    }


def cpu_delta(before: dict[str, float]) -> dict[str, float]:
    after = _cpu_seconds()
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after if not k.startswith("_pg:")}
    if any(k.startswith("_pg:") for k in after) or "postgres" in before:
        delta["postgres"] = _postgres_delta(before, after)
    return {k: round(v, 2) for k, v in delta.items() if v > 0.01}


def measure_limit(api: FakeApi, n: int) -> dict[str, Any]:
    """fetch → COPY into a staging table → one INSERT ... ON CONFLICT merge, one process."""
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_limit_records")
        cur.execute("CREATE TABLE bench_limit_records (external_id text PRIMARY KEY, data jsonb NOT NULL)")
    reset_peak_rss()
    cpu = _cpu_seconds()
    start = time.perf_counter()
    http = requests.Session()
    with transaction.atomic(), connection.cursor() as cur:
        raw = connection.connection  # psycopg 3 connection under Django's wrapper
        cur.execute("CREATE TEMP TABLE bench_stage (external_id text, data jsonb) ON COMMIT DROP")
        page = 1
        while True:
            body = http.get(f"{api.url}/products", params={"page": page, "per_page": PAGE}).json()
            records = body["data"]
            if records:
                buf = io.StringIO()
                for rec in records:
                    text = json.dumps(rec, separators=(",", ":"))
                    buf.write(f"{rec['id']}\t{_copy_escape(text)}\n")
                with raw.cursor().copy("COPY bench_stage (external_id, data) FROM STDIN") as copy:
                    copy.write(buf.getvalue())
            if len(records) < PAGE:
                break
            page += 1
        cur.execute(
            "INSERT INTO bench_limit_records SELECT DISTINCT ON (external_id) external_id, data FROM bench_stage "
            "ON CONFLICT (external_id) DO UPDATE SET data = excluded.data"
        )
        written = cur.rowcount
    return one_process_result(start, n, written, cpu)


def _copy_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def measure_naive(api: FakeApi, client: SyncClient, sample: int) -> dict[str, Any]:
    """update_or_create per record, on a sample (the full set would take minutes)."""
    records = requests.get(f"{api.url}/products", params={"page": 1, "per_page": min(sample, PAGE)}).json()[
        "data"
    ]
    while len(records) < sample:
        page = len(records) // PAGE + 1
        records += requests.get(f"{api.url}/products", params={"page": page, "per_page": PAGE}).json()["data"]
    start = time.perf_counter()
    for rec in records[:sample]:
        SyncedRecord.objects.update_or_create(
            client=client,
            external_id=str(rec["id"]),
            defaults={"data": rec, "content_hash": "", "source_seq": 0, "created_batch": 0},
        )
    wall = time.perf_counter() - start
    SyncedRecord.objects.filter(client=client).delete()
    return {"wall_s": wall, "records": sample, "records_per_s": sample / wall, "rows_written": sample}


def start_workers(env: dict[str, str], queue: str, concurrency: int, *extra: str) -> subprocess.Popen[bytes]:
    (ROOT / "var" / "logs").mkdir(parents=True, exist_ok=True)
    log = open(ROOT / "var" / "logs" / "bench-worker.log", "wb")  # noqa: SIM115
    cmd = worker_command(
        f"celery,{queue}", concurrency, "-l", "WARNING", "-n", f"bench-{os.getpid()}@%h", "--without-gossip",
        "--without-mingle", *extra,
    )  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while len(children(proc.pid)) < concurrency:
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("bench worker did not start; see var/logs/bench-worker.log")
        time.sleep(0.2)
    time.sleep(1.0)  # let it connect and start consuming
    return proc


def rows_written_since(client: SyncClient, since: Any) -> int:
    """Rows inserted or rewritten since `since` (every write sets updated_at)."""
    return SyncedRecord.objects.filter(client=client, updated_at__gte=since).count()


def measure_sync(client: SyncClient, worker: subprocess.Popen[bytes], n: int) -> dict[str, Any]:
    from django.utils import timezone

    since = timezone.now()
    cpu = _cpu_seconds()
    start = time.perf_counter()
    run = sync_run_request(client=client, trigger=SyncRun.Trigger.COMMAND, who="bench")
    run = run_wait_final(run_id=run.pk, timeout=3600, poll=0.05)
    wall = time.perf_counter() - start
    time.sleep(0.6)
    rss = {f"worker_child_{i}": round(peak_rss_mb(pid), 1) for i, pid in enumerate(children(worker.pid))}
    return {
        "wall_s": wall,
        "records": n,
        "records_per_s": n / wall,
        "status": run.status,
        "counts": run.counts(),
        "rows_written": rows_written_since(client, since),
        "cpu_s": cpu_delta(cpu),
        "peak_rss_mb": {"worker_main": round(peak_rss_mb(worker.pid), 1), **rss},
    }


def run_pipeline_bench(n: int, env: dict[str, str], batch_size: int, concurrency: int = 2) -> dict[str, Any]:
    api = FakeApi.start(records=n)
    results: dict[str, Any] = {}
    try:
        results["limit"] = measure_limit(api, n)
        conn, _ = Connection.objects.update_or_create(name="bench-api", defaults={"base_url": api.url})
        SyncClient.objects.filter(name__startswith="bench-").delete()
        client = SyncClient.objects.create(
            name="bench-products",
            connection=conn,
            handler="demo_products",
            config={"page_size": PAGE},
            batch_size=batch_size,
            queue="bench",
        )
        results["naive"] = measure_naive(api, client, sample=min(n, 2000))
        worker = start_workers(env, "bench", concurrency)
        try:
            results["first_sync"] = measure_sync(client, worker, n)
            results["unchanged_resync"] = measure_sync(client, worker, n)
            changed = random.Random(7).sample(range(1, n + 1), n // 10)
            api.update(changed)
            results["changed_resync"] = measure_sync(client, worker, n)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        from bench.destination import run_destination_bench

        results.update(run_destination_bench(api, n, env, batch_size=batch_size, concurrency=concurrency))
    finally:
        api.stop()
    limit_rate = results["limit"]["records_per_s"]
    for key in ("naive", "first_sync", "unchanged_resync", "changed_resync"):
        results[key]["ratio_to_limit"] = results[key]["records_per_s"] / limit_rate
    for r in results.values():
        if "cpu_s" in r:  # CPU seconds per 1,000 records, per process group
            r["cpu_s_per_1000"] = {k: round(v * 1000 / r["records"], 4) for k, v in r["cpu_s"].items()}
            # The bench's own processes only: steadier than wall time on a shared machine.
            r["own_cpu_s"] = round(sum(v for k, v in r["cpu_s"].items() if k not in _NOT_OWN), 2)
    return results
