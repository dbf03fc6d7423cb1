"""The `data_syncer` sample plugin — the reference example, with its two flaws fixed:

- the lock `sync:active_lock` (TTL 300 s) is taken in one atomic step (never check-then-set)
  and a sync that finds it held is skipped;
- the `sync_logs` row is written only after every batch has committed: each batch counts
  itself in `sync_progress` inside its own transaction, and whichever batch commits last
  finalises (writes the log and releases the lock), exactly once.

Items are staged in the database (the worker service keeps task kwargs in a row and sends
only its id) and loaded in batches of 100 by the worker task `tasks.sync:process_batch`.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from syncers.plugins.base import Plugin, cron, task
from syncers.plugins.errors import PluginError, UnknownAction, WorkerUnavailable
from syncers.plugins.manifest import Manifest, Permission
from syncers.plugins.ports import Context

LOCK = "sync:active_lock"
LOCK_TTL = 300
PROCESS_BATCH = "tasks.sync:process_batch"


class DataSyncerPlugin(Plugin):
    manifest = Manifest(
        name="data_syncer",
        version="1.5.0",
        description="Hourly (and on force_sync): fetches raw items through the gateway plugin and "
        "loads them in batches of 100 by worker tasks; one sync_logs row per finished sync.",
        mode="trusted",
        permissions=(
            Permission("service:scheduler", "*"),
            Permission("service:worker", "execute"),
            Permission("db.sync_*", "read", "write"),  # sync_logs, sync_progress, sync_items
            Permission("cache.sync:*", "*"),
            Permission("plugin:gateway", "execute"),
        ),
        config_schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["connection"],
            "properties": {
                "connection": {"type": "string", "minLength": 1, "description": "Gateway connection name."},
                "path": {"type": "string", "minLength": 1, "default": "/products"},
                "records_path": {"type": "string", "default": "data"},
                "id_field": {"type": "string", "minLength": 1, "default": "id"},
                "page_size": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                "batch_size": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                "queue": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]*$", "default": ""},
            },
        },
        actions=("force_sync",),
    )

    def on_load(self, ctx: Context) -> None:
        self.db, self.cache = ctx.db, ctx.cache
        self.scheduler, self.worker, self.plugins = ctx.scheduler, ctx.worker, ctx.registry

    def on_start(self, ctx: Context) -> None:
        self.scheduler.add_jobs_from(self)  # the @cron job below; replaced, never doubled

    def on_stop(self, ctx: Context) -> None:
        self.cache.clear_lock(LOCK)

    def handle(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "force_sync":
            return self.sync(trigger="force_sync")
        raise UnknownAction(self.manifest.name, action, self.manifest.actions)

    @cron("0 * * * *", job_id="hourly_sync")
    def hourly_sync(self, trigger: str = "schedule") -> dict[str, Any]:
        """Also the method of one-shot jobs: `add_job("catch_up", call="hourly_sync",
        run_at=..., kwargs={"trigger": "catch-up"})` records that trigger on its sync."""
        return self.sync(trigger=trigger)

    def sync(self, *, trigger: str) -> dict[str, Any]:
        cfg = self.ctx.config
        self._finalise_leftovers()
        lock = self.cache.lock(LOCK, ttl=LOCK_TTL)
        if lock is None:
            return {"ok": True, "status": "skipped", "reason": f"another sync holds {LOCK}"}
        try:
            items = _check_items(
                self.plugins.call(
                    "gateway",
                    "fetch_raw_data",
                    connection=cfg["connection"],
                    path=cfg["path"],
                    records_path=cfg["records_path"],
                    page_size=cfg["page_size"],
                )
            )
            sync_id, batches = self._stage(items, cfg, trigger, lock.token)
        except WorkerUnavailable:
            raise  # staged and committed: the reconciler sends the batches; the lock stays theirs
        except BaseException:
            lock.release()  # nothing was staged: the next sync may start at once
            raise
        if not batches:
            self.finalise(sync_id)
        return {
            "ok": True,
            "status": "dispatched",
            "sync_id": sync_id,
            "items": len(items),
            "batches": batches,
        }

    def _stage(self, items: list[Any], cfg: dict[str, Any], trigger: str, token: str) -> tuple[int, int]:
        """The progress row and every batch (kwargs in the DB) in one transaction; the
        messages, ids only, go out when it commits."""
        size = cfg["batch_size"]
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        progress = self.db.table("sync_progress")
        with self.db.atomic():
            sync_id = progress.insert(
                trigger=trigger, items=len(items), batches_total=len(chunks), lock_token=token
            )
            for chunk in chunks:
                self.worker.send(
                    PROCESS_BATCH, {"sync_id": sync_id, "items": chunk}, queue=cfg["queue"] or None
                )
        return sync_id, len(chunks)

    @task(PROCESS_BATCH)
    def process_batch(self, *, sync_id: int, items: list[Any]) -> dict[str, Any]:
        """Upsert one batch and count it, in the task's transaction (so a re-delivered
        message finds it done); the finaliser runs once that has committed."""
        id_field = self.ctx.config["id_field"]
        rows = {
            str(item[id_field]): {"external_id": str(item[id_field]), "data": item, "sync_id": sync_id}
            for item in items
            if isinstance(item, dict) and item.get(id_field) not in (None, "")
        }
        now = timezone.now()
        for row in rows.values():
            row["updated_at"] = now
        self.db.table("sync_items").upsert(
            rows.values(), key=["external_id"], update=["data", "sync_id", "updated_at"]
        )
        self.db.table("sync_progress").increment({"pk": sync_id}, batches_done=1, items_done=len(rows))
        self.db.on_commit(lambda: self.finalise(sync_id))
        return {"sync_id": sync_id, "loaded": len(rows), "skipped": len(items) - len(rows)}

    def finalise(self, sync_id: int) -> bool:
        """Write the log and release the lock if every batch has committed. Any batch may
        call it; the compare-and-set on finished_at makes exactly one of them win."""
        progress = self.db.table("sync_progress")
        row = progress.get(pk=sync_id)
        if row is None or row["finished_at"] is not None or row["batches_done"] < row["batches_total"]:
            if row and row["lock_token"] and row["finished_at"] is None:
                self.cache.renew_lock(LOCK, row["lock_token"], LOCK_TTL)  # still working
            return False
        with self.db.atomic():
            if not progress.update({"pk": sync_id, "finished_at__isnull": True}, finished_at=timezone.now()):
                return False
            self.db.table("sync_logs").insert(
                timestamp=timezone.now(), count=row["items_done"], sync_id=sync_id
            )
        self.cache.release_lock(LOCK, row["lock_token"])
        return True

    def _finalise_leftovers(self) -> None:
        """A finaliser that died after the last commit leaves a complete, unlogged sync."""
        for row in self.db.table("sync_progress").filter(finished_at__isnull=True, order_by=["pk"], limit=20):
            if row["batches_done"] >= row["batches_total"]:
                self.finalise(row["id"])


def _check_items(items: Any) -> list[Any]:
    if not isinstance(items, list):
        raise PluginError(f"fetch_raw_data returned {type(items).__name__}, not a list")
    return items
