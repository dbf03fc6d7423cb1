"""Looking inside the broker this test process publishes to (Redis or kombu's filesystem
transport): queue lengths, messages delivered but never acknowledged, and all stored text with
message bodies decoded (a secret inside a base64 body must still be found)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from celery import current_app
from django.conf import settings


def broker_url() -> str:
    return current_app.conf.broker_url


def queue_length(queue: str) -> int:
    """Messages waiting in `queue` (every priority list on Redis; files on the filesystem)."""
    with current_app.connection_for_write() as conn:
        return int(conn.default_channel._size(queue))


def _redis(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


def unacked_messages(queue: str) -> list[dict[str, Any]]:
    """Redis only: messages of `queue` delivered to a consumer that never acknowledged them
    (its process died). The broker restores them after the visibility timeout."""
    url = broker_url()
    if not url.startswith("redis://"):
        return []
    found = []
    for raw in _redis(url).hvals("unacked"):
        message, _exchange, routing_key = json.loads(raw)
        if routing_key == queue:
            found.append(message)
    return found


def task_of(message: dict[str, Any]) -> tuple[str, list[Any]]:
    """(task name, args) of a Celery protocol-2 message as kombu stores it."""
    body = decode_body(message)
    args = json.loads(body)[0] if body else []
    return message.get("headers", {}).get("task", ""), args


def decode_body(message: dict[str, Any]) -> str:
    body = message.get("body", "")
    if message.get("properties", {}).get("body_encoding") == "base64":
        try:
            return base64.b64decode(body).decode(errors="replace")
        except (binascii.Error, ValueError):
            return body
    return body


def _with_bodies(text: str) -> str:
    """The text plus the decoded body of every kombu message found in it."""
    out = [text]
    for candidate in _json_values(text):
        if isinstance(candidate, list) and candidate and isinstance(candidate[0], dict):
            candidate = candidate[0]  # an unacked entry: [message, exchange, routing key]
        if isinstance(candidate, dict) and "body" in candidate:
            out.append(decode_body(candidate))
    return "\n".join(out)


def _json_values(text: str) -> Iterator[Any]:
    try:
        yield json.loads(text)
    except ValueError:
        return


def redis_text(url: str) -> Iterator[str]:
    """Every key and value of the Redis database `url` names, message bodies decoded."""
    client = _redis(url)
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        if kind == "string":
            values = [client.get(key)]
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "hash":
            values = [part for pair in client.hgetall(key).items() for part in pair]
        elif kind == "set":
            values = list(client.smembers(key))
        elif kind == "zset":
            values = [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
        else:
            values = [client.dump(key) or b""]
        name = key.decode(errors="replace")
        for value in values:
            yield name + " " + _with_bodies((value or b"").decode(errors="replace"))


def broker_text() -> Iterator[str]:
    url = broker_url()
    if url.startswith("redis://"):
        yield from redis_text(url)
    elif url.startswith("filesystem://"):
        for path in Path(settings.BROKER_DIR).rglob("*"):
            if path.is_file():
                yield _with_bodies(path.read_text(errors="replace"))
    else:
        raise AssertionError(f"the oracle cannot read broker {urlsplit(url).scheme}://")
