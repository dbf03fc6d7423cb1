"""What a run's outcome does to its client: the pause state machine (`pause`: active, backoff,
probe, paused, and which state changes are worth telling) and the notifications sent on those
changes through pluggable channels (`notify`). The pipeline calls it after each run; it imports
only syncers.models and gateway, never the pipeline or anything above."""
