"""The sync engine and its edges: clients and schedules (models), the pipeline (lease →
fetch → stage → load → log), handlers, destinations, plugins, and the edges that start work —
admin console, management commands, HTTP API, webhooks, beat. Edges call the operator verbs
in `services` and the reads in `selectors`; see the code map in the docs for each package."""
