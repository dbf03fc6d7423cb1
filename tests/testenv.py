"""The environment the tests (and the worker, beat and fake API processes they start) run in:
production settings — DEBUG off — with a test SECRET_KEY and encryption key, and the loopback
fake API allowed past the SSRF guard. Loaded as a pytest plugin (`-p tests.testenv` in
pyproject.toml) so it is set before Django reads its settings; a value already in the
environment wins."""

import os

TEST_ENVIRONMENT = {
    "SECRET_KEY": "tests-only-secret-key-not-for-any-deployment-0123456789",
    "GATEWAY_ENCRYPTION_KEYS": "dGVzdHMtb25seS1lbmNyeXB0aW9uLWtleS0wMDAwMDA=",
    "GATEWAY_ALLOWED_HOSTS": "127.0.0.1,localhost",
}

for name, value in TEST_ENVIRONMENT.items():
    os.environ.setdefault(name, value)
