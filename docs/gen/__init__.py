"""Reference pages generated from the code at every `mkdocs build` (see hooks.py), so they
cannot drift: environment variables, sync_apply's YAML keys, the REST source's options,
management commands and the HTTP API."""
