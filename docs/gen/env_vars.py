"""Environment variables: every `env.<cast>("NAME", default=...)` call in xcoresite/settings.py
and every `os.environ.get("NAME", ...)` in xcoresite/devstack.py, found with `ast` (so a new
variable appears by itself); the one-line meaning comes from MEANINGS below, and a variable
without one stops the build."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = (ROOT / "xcoresite" / "settings.py", ROOT / "xcoresite" / "devstack.py")

# Name → (default as shown, or "" to print the code's default; meaning). Keep them one line.
MEANINGS: dict[str, tuple[str, str]] = {
    "XCORESITE_VAR_DIR": ("`./var`", "Runtime files: SQLite database, broker folders, logs, admin login."),
    "DEBUG": (
        "`false` (`make run` sets `true`)",
        "Django debug mode: error pages with code, locals and (masked) settings. Development only.",
    ),
    "SECRET_KEY": (
        "a development key, refused unless `DEBUG`",
        "Django secret key. With `DEBUG` off every process refuses to start on the development key.",
    ),
    "ALLOWED_HOSTS": ("`127.0.0.1,localhost`", "Django allowed hosts."),
    "SILENCED_SYSTEM_CHECKS": (
        "empty",
        "Comma-separated system check ids (e.g. `syncers.E001`) that no process runs at start. "
        "For tests that need the misconfiguration a check refuses; a deployment leaves it empty.",
    ),
    "DATABASE_URL": (
        "`sqlite:///var/db.sqlite3`",
        "Database (django-environ URL). PostgreSQL in production.",
    ),
    "REDIS_URL": ("empty", "Redis for leases and the cache. Empty: leases live in the database."),
    "CELERY_BROKER_URL": (
        "`filesystem://` (folders under `var/broker/`)",
        "Celery broker: `redis://…` or `amqp://…` in production.",
    ),
    "CELERY_VISIBILITY_TIMEOUT": ("", "Seconds before Redis re-delivers an unacked message."),
    "CELERY_TASK_TIME_LIMIT": ("", "Hard task time limit; must stay below the visibility timeout (checked)."),
    "CELERY_DB_REUSE_MAX": (
        "",
        "Tasks a worker process runs on one database connection before reconnecting "
        "(Celery otherwise reconnects after every task).",
    ),
    "SYNC_DEFAULT_QUEUE": ("", "Queue for new clients' runs and batches."),
    "SYNC_DEFAULT_BATCH_SIZE": ("", "Records per load task for new clients (max 5000)."),
    "SYNC_LEASE_TTL": ("", "Seconds a lease outlives a silent holder; renewed every third of it."),
    "SYNC_REDISPATCH_AFTER": ("", "Seconds before the reconciler re-sends a queued run or pending batch."),
    "SYNC_RECONCILE_EVERY": ("", "Seconds between reconciler passes (a beat entry)."),
    "SYNC_IDLE_TRANSACTION_TIMEOUT": (
        "",
        "Seconds PostgreSQL lets a pipeline transaction sit idle (a frozen worker) before ending it "
        "and releasing its locks.",
    ),
    "FAKEAPI_URL": ("`http://127.0.0.1:8765`", "Where the demo connection points."),
    "SYNC_CONFIG_FILE": (
        "empty",
        "YAML file `manage.py sync_apply` applies when called without one (run it at deploy time).",
    ),
    "SYNC_PAUSE_DURATIONS": (
        "`60,300,900,3600,10800`",
        "Seconds a client pauses at error level 1, 2, ... after transient failures (the last "
        "repeats); a client may override.",
    ),
    "SYNC_MAX_FAILURES": (
        "",
        "Failed runs in a row before a client pauses until an operator resumes it; a client may override.",
    ),
    "SYNC_MAX_RECORD_BYTES": (
        "`1048576`",
        "Largest record stored (its JSON text; on PostgreSQL as jsonb prints it, a little more than compact "
        "JSON); a larger one is kept in failed records with its size as the reason. Raise it and retry the "
        "failed records to load them.",
    ),
    "EMAIL_URL": (
        "",
        "Mail for notifications (django-environ URL, e.g. `smtp+tls://user:pass@host:587`).",
    ),
    "DEFAULT_FROM_EMAIL": ("", "Sender of notification mails."),
    "SYNC_NOTIFY_EMAILS": (
        "empty",
        "Global recipients by minimum level: `error=oncall@x.io;warning=team@x.io,lead@x.io`.",
    ),
    "SYNC_NOTIFY_CHANNELS": (
        "`syncers.alerts.notify.EmailChannel,syncers.alerts.notify.WebhookChannel`",
        "Notification channel classes (another channel is one class).",
    ),
    "SYNC_NOTIFY_WEBHOOKS": (
        "empty",
        "Webhook URLs for notifications, `url` or `url>warning` (minimum level), comma-separated.",
    ),
    "SYNC_NOTIFY_WEBHOOK_FORMAT": (
        "",
        '`json` (`{"subject", "text"}`) or `slack` (`{"text"}`, Slack incoming-webhook compatible).',
    ),
    "SYNC_NOTIFY_THROTTLE": ("", "Seconds in which the same event for the same client is sent only once."),
    "SYNC_HOOK_MAX_BYTES": ("`2097152`", "Largest body accepted by `POST /hooks/<client>/`."),
    "SYNC_HOOK_TOLERANCE": (
        "",
        "Seconds a webhook delivery's `X-Xcoresite-Timestamp` may differ from our clock; within them an exact "
        "replay is refused by its signature.",
    ),
    "SYNC_METRICS_ENABLED": (
        "",
        "Serve Prometheus metrics at `/metrics` (runs and records by outcome, run seconds, pending "
        "batches, client state and error level, API requests by status, rate-limit waits).",
    ),
    "SYNC_METRICS_TOKEN": (
        "empty",
        "If set, `/metrics` requires `Authorization: Bearer <token>`. Metrics on without it: warning "
        "`syncers.W001` at start-up.",
    ),
    "LOG_FORMAT": ("", "`json`: one JSON object per log line with `client`, `run`, `batch` and `page` ids."),
    "SYNC_LOG_LEVEL": ("", "Log level of the `syncers` and `gateway` loggers."),
    "GATEWAY_ENCRYPTION_KEYS": (
        "empty (DEBUG: a key derived from `SECRET_KEY`)",
        "Fernet keys, comma-separated, newest first, encrypting connection and webhook secrets. "
        "Required when `DEBUG` is off (check `gateway.E001`).",
    ),
    "GATEWAY_ALLOWED_HOSTS": (
        "`127.0.0.1,localhost` with `DEBUG`, else empty",
        "Host names, IPs or CIDR networks the SSRF guard lets connections reach although they are "
        "loopback/private/link-local.",
    ),
    "GATEWAY_TRUST_ENV": (
        "",
        "Let outgoing requests use proxies, `.netrc` and CA-bundle variables from the environment. A "
        "proxy resolves host names again after our SSRF check, so the guard does not cover proxied "
        "requests (warning `gateway.W001`): restrict what the proxy may reach there.",
    ),
    "GATEWAY_RETRY_AFTER_CAP": (
        "",
        "Longest `Retry-After` (s) a worker sleeps through; longer ones raise `TransientError.retry_after`.",
    ),
    "GATEWAY_RATE_LIMIT_MAX_WAIT": (
        "",
        "Longest wait (s) for a rate-limit slot before raising `TransientError.retry_after`.",
    ),
    "XCORESITE_WEB": ("", "Address `make run` serves the admin on."),
    "FAKEAPI_PORT": ("", "Port `make run` starts the fake API on."),
}


@dataclass(frozen=True)
class EnvVar:
    name: str
    cast: str  # str, int, float, bool, list, db, email_url
    default: str
    meaning: str
    source: str  # the file reading it, relative to the repository


def env_vars() -> list[EnvVar]:
    """Every variable read, in the order the files read them (the first read wins)."""
    found: dict[str, EnvVar] = {}
    for path in SOURCES:
        for name, cast, default in _env_calls(ast.parse(path.read_text(), str(path))):
            if name in found:
                continue
            shown, meaning = MEANINGS.get(name, ("", ""))
            if not meaning:
                raise LookupError(
                    f"{path.name} reads {name}: add its meaning to docs/gen/env_vars.py MEANINGS"
                )
            found[name] = EnvVar(name, cast, shown or default, meaning, str(path.relative_to(ROOT)))
    return list(found.values())


def _env_calls(tree: ast.AST) -> list[tuple[str, str, str]]:
    """(name, cast, default shown) of each call, in source order."""
    calls: list[tuple[int, str, str, str]] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner, cast = node.func.value, node.func.attr
        is_env = isinstance(owner, ast.Name) and owner.id == "env"
        is_environ = (
            cast == "get"
            and isinstance(owner, ast.Attribute)
            and owner.attr == "environ"
            and isinstance(owner.value, ast.Name)
            and owner.value.id == "os"
        )
        if not (is_env or is_environ) or not node.args or not isinstance(node.args[0], ast.Constant):
            continue
        default = next((k.value for k in node.keywords if k.arg == "default"), None)
        if default is None and len(node.args) > 1:
            default = node.args[1]
        calls.append((node.lineno, node.args[0].value, "str" if is_environ else cast, _shown(default)))
    return [call[1:] for call in sorted(calls)]


def _shown(default: ast.expr | None) -> str:
    if default is None:
        return "required"
    try:
        value = ast.literal_eval(default)
    except ValueError:
        return f"`{ast.unparse(default)}`"
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    if value == "":
        return "empty"
    if isinstance(value, bool):
        value = str(value).lower()
    return f"`{value}`"


def render() -> str:
    rows = "\n".join(f"| `{v.name}` | {v.cast} | {v.default} | {v.meaning} |" for v in env_vars())
    return (
        "# Environment variables\n\n"
        "Generated from the `env(...)` calls in `xcoresite/settings.py` (the only settings module) "
        "and `xcoresite/devstack.py` (`make run` only). `settings.py` reads its variables once, when "
        "a process starts: change one, then restart the processes.\n\n"
        "| Variable | Type | Default | Meaning |\n|---|---|---|---|\n" + rows + "\n"
    )
