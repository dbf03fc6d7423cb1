"""Kept for existing apps: a `sync_jobs` module written as
`from syncers.job_registry import sync_job` keeps working. The registry lives in
syncers.schedules.job_registry (issue 17); import it from there in new code."""

from syncers.schedules.job_registry import UnknownJob, sync_job

__all__ = ["UnknownJob", "sync_job"]
