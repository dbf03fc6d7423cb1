"""The embedded broker never hands a consumer a half-written message."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from kombu import Connection

BIG = "x" * 200_000  # large writes widen the window in which a reader could see a partial file


def options(root: Path) -> dict[str, object]:
    for sub in ("queue", "staging", "processed", "control"):
        (root / sub).mkdir(exist_ok=True)
    return {
        "control_folder": str(root / "control"),
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
    failures: list[BaseException] = []

    def produce() -> None:
        try:
            with Connection("filesystem://", transport=transport, transport_options=opts) as conn:
                queue = conn.SimpleQueue("race")
                for i in range(count):
                    queue.put({"n": i, "pad": BIG})
        except BaseException as exc:  # surfaced below instead of a silent timeout
            failures.append(exc)

    seen = []
    with Connection("filesystem://", transport=transport, transport_options=opts) as conn:
        # Declared before the producer starts: kombu's exchange-binding file (control folder)
        # has a write race of its own at declaration time, which is not what this test is about.
        queue = conn.SimpleQueue("race")
        producer = threading.Thread(target=produce)
        producer.start()
        while len(seen) < count and not failures:
            message = queue.get(timeout=60)  # a partial file would raise a JSON decode error here
            seen.append(message.payload["n"])
            message.ack()
    producer.join()
    assert not failures, failures
    assert sorted(seen) == list(range(count))
