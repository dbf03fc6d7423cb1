"""Destinations: a client's records loaded into one of the team's own Django models
(config, typing, set-based load, deletions after a complete listing with a guard, hooks)."""
