"""Is it running, and how well: the health checks of beat, workers, broker and Redis
(`health`), what `sync_status` and /api/health/ report (`status`), the Prometheus metrics at
/metrics (`metrics`), a run's live progress (`progress`) and the system checks of the settings
(`checks`). Read by the edges, services and selectors; it may import the plugins, pipeline,
schedules, destinations and models below it, never the edges or services."""
