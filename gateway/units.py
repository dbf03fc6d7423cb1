"""Durations and sizes as operators write them ("30s", "5m", "1h 30m", "50 MB") and back,
with form fields that accept and show them so: what a field shows parses back to the same value.

Sizes count in binary units, as the limits they set are computed (1 KB = 1024 bytes)."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

DURATION_UNITS = {
    "ms": 0.001,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
}
SIZE_UNITS = {"b": 1, "bytes": 1, "kb": 1024, "kib": 1024, "mb": 1024**2, "mib": 1024**2}
SIZE_UNITS |= {"gb": 1024**3, "gib": 1024**3}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")
DURATION_EXAMPLE = "a duration like 30s, 5m, 1h 30m or 500ms (a bare number is seconds)"
SIZE_EXAMPLE = "a size like 50 MB, 512 KB or 1048576 (bytes; 1 KB = 1024 bytes)"


def parse_duration(text: str) -> float:
    """Seconds in `text` ("90", "1m 30s", "1.5h"); ValueError names what is wrong."""
    total, pos, text = 0.0, 0, text.strip()
    if not text:
        raise ValueError(f"enter {DURATION_EXAMPLE}")
    while pos < len(text):
        match = _PART.match(text, pos)
        unit = match.group(2).lower() if match else ""
        if not match or (unit not in DURATION_UNITS and unit != ""):
            raise ValueError(f"{text!r} is not {DURATION_EXAMPLE}")
        total += float(match.group(1)) * DURATION_UNITS.get(unit, 1)
        pos = match.end()
    return total


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: 60 → "1m", 5400 → "1h 30m", 0.5 → "500ms"."""
    if 0 < seconds < 1 and round(seconds * 1000, 6) == round(seconds * 1000):
        return f"{round(seconds * 1000)}ms"
    parts, rest = [], seconds
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        whole = int(rest // size)
        if whole:
            parts.append(f"{whole}{unit}")
            rest -= whole * size
    if rest or not parts:
        parts.append(f"{rest:g}s")
    return " ".join(parts)


def parse_size(text: str) -> int:
    """Bytes in `text` ("50 MB", "512KiB", "1048576"); ValueError names what is wrong."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if not match or (unit not in SIZE_UNITS and unit != ""):
        raise ValueError(f"{text.strip()!r} is not {SIZE_EXAMPLE}")
    value = float(match.group(1)) * SIZE_UNITS.get(unit, 1)
    if value != int(value):
        raise ValueError(f"{text.strip()!r} is not a whole number of bytes")
    return int(value)


def format_size(size: int) -> str:
    """The largest unit that says it exactly: 52428800 → "50 MB", 1000 → "1000 bytes"."""
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


class _UnitField(forms.CharField):
    """A text input whose value is a number written with a unit."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.TextInput(attrs={"size": 14, "class": "sync-unit-input"}))
        super().__init__(**kwargs)

    def parse(self, text: str) -> Any:
        raise NotImplementedError

    def show(self, value: Any) -> str:
        raise NotImplementedError

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return self.show(value)
        return value  # the operator's text, shown back as typed when it did not parse

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        if text is None or text in self.empty_values:
            return None
        try:
            return self.parse(text)
        except ValueError as exc:
            raise ValidationError(f"Enter {exc}." if str(exc).startswith("enter ") else f"{exc}.") from None


class DurationField(_UnitField):
    """Seconds as a float ("30s", "1.5s", "2m"); `whole=True` refuses fractions of a second."""

    def __init__(self, *, whole: bool = False, **kwargs: Any) -> None:
        self.whole = whole
        super().__init__(**kwargs)

    def parse(self, text: str) -> float | int:
        seconds = parse_duration(text)
        if self.whole:
            if seconds != int(seconds):
                raise ValueError(f"{text!r} is not a whole number of seconds")
            return int(seconds)
        return seconds

    def show(self, value: Any) -> str:
        return format_duration(value)


class SizeField(_UnitField):
    """Bytes as an int ("50 MB")."""

    def parse(self, text: str) -> int:
        return parse_size(text)

    def show(self, value: Any) -> str:
        return format_size(int(value))


class DurationListField(forms.CharField):
    """Whole seconds written as comma-separated durations: "1m, 5m, 1h" ↔ [60, 300, 3600]."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.TextInput(attrs={"size": 40}))
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ", ".join(format_duration(v) if isinstance(v, (int, float)) else str(v) for v in value)
        return value

    # A CharField whose value is the parsed durations, not the text: the list goes to clean().
    def to_python(self, value: Any) -> list[int]:  # type: ignore[override]
        text = super().to_python(value) or ""
        durations = []
        for i, item in enumerate(p for p in text.split(",") if p.strip()):
            try:
                seconds = parse_duration(item)
            except ValueError as exc:
                raise ValidationError(f"Item {i + 1}: {exc}.") from None
            if seconds < 1 or seconds != int(seconds):
                raise ValidationError(
                    f"Item {i + 1} ({item.strip()!r}): a pause lasts whole seconds, 1s or more."
                )
            durations.append(int(seconds))
        return durations
