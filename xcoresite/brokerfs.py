"""kombu's filesystem transport with atomic writes, for the embedded default broker.

Stock `_put` creates the message file in the queue folder and then writes it; a consumer
polling at that moment moves and reads it half-written, and the worker's main process dies
with a JSONDecodeError. Here the message is written beside the queue and renamed in, so a
consumer only ever sees whole files."""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    # celery-types names this argument `message` in kombu's base channel and `payload` in the
    # filesystem one, so any name breaks one of them; kombu passes it by position.
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        staging = os.path.join(self.transport_options["staging_folder"], name)
        try:
            with open(staging, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(staging, os.path.join(self.data_folder_out, name))  # atomic on one filesystem
        except OSError as exc:
            raise ChannelError(f"Cannot add message {name!r} to queue {queue!r}") from exc


class Transport(filesystem.Transport):
    Channel = Channel
