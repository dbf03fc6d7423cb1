"""Stand-in for the third-party product API, so demos and tests need no network."""
