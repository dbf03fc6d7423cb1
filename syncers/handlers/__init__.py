"""Built-in sync handlers. They register through `syncers/sync_handlers.py`, the same
autodiscovered hook a third-party app uses."""
