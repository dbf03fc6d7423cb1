"""The HTTP API: the operator verbs of the admin and the commands over HTTP, with per-user
bearer tokens and exactly the admin's permission checks (syncers.permissions). Views only
parse, check, call the same service and selector functions and write the same audit entry."""
