"""Time: a client's schedules mirrored into django-celery-beat (`mirror`, kept in step by
`signals`), the beat scheduler itself (`beat`, SyncScheduler), what a schedule will do in words
and times (`cron_preview`), the counted fires of a schedule with a run limit (`fires`), and
static jobs from the configuration file with the registry of their callables (`static_jobs`,
`job_registry`). It imports only syncers.models (and Django, django-celery-beat): the edges,
services, selectors and syncers.ops read it, the pipeline never needs it."""
