"""Outgoing connections and their network policy: a `Connection` owns base URL, auth,
timeouts, retries, rate limit, payload limits and SSRF rules, and `session_for()` is the only
way the product makes an HTTP request. It imports nothing else of the product, so any caller
can reuse it."""
