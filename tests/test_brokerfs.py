"""The embedded broker never hands a consumer a half-written message."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from kombu import Connection

BIG = "x" * 200_000  # large writes widen the window in which a reader could see a partial file


def options(root: Path) -> dict[str, object]:
    for sub in ("queue", "staging", "processed"):
        (root / sub).mkdir(exist_ok=True)
    return {
        "data_folder_in": str(root / "queue"),
        "data_folder_out": str(root / "queue"),
        "staging_folder": str(root / "staging"),
        "processed_folder": str(root / "processed"),
        "polling_interval": 0,
    }


@pytest.mark.parametrize("transport", ["xcoresite.brokerfs:Transport"])
def test_a_consumer_racing_a_producer_only_reads_whole_messages(tmp_path: Path, transport: str) -> None:
    opts = options(tmp_path)
    count = 300
    done = threading.Event()

    def produce() -> None:
        with Connection("filesystem://", transport=transport, transport_options=opts) as conn:
            queue = conn.SimpleQueue("race")
            for i in range(count):
                queue.put({"n": i, "pad": BIG})
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    seen = []
    with Connection("filesystem://", transport=transport, transport_options=opts) as conn:
        queue = conn.SimpleQueue("race")
        while len(seen) < count:
            message = queue.get(timeout=10)  # a partial file would raise a JSON decode error here
            seen.append(message.payload["n"])
            message.ack()
    producer.join()
    assert sorted(seen) == list(range(count))
