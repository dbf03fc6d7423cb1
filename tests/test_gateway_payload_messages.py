"""PayloadError texts composed from the JSON decoder's words say each thing once and name
the place: no "starting at at char", no advice to raise a Python limit."""

from __future__ import annotations

import re

import pytest

from gateway.errors import PayloadError
from gateway.payload import parse_json

DOUBLED = re.compile(r"\b(\w+) \1\b", re.IGNORECASE)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"a": "open',
            "answer is not valid JSON: Unterminated string starting at line 1, column 7 (character 6)",
        ),
        (
            b'{"a": "x\x01"}',
            "answer is not valid JSON: Invalid control character at line 1, column 9 (character 8)",
        ),
        (b'{"a": "\\q"}', "answer is not valid JSON: Invalid \\escape at line 1, column 8 (character 7)"),
        (
            b'{"a": "\\u12"}',
            "answer is not valid JSON: Invalid \\uXXXX escape at line 1, column 9 (character 8)",
        ),
        (b"[1,]", "answer is not valid JSON: Expecting value at line 1, column 4 (character 3)"),
        (b"[1] [2]", "answer is not valid JSON: Extra data at line 1, column 5 (character 4)"),
        (b'{"a" 1}', "answer is not valid JSON: Expecting ':' delimiter at line 1, column 6 (character 5)"),
        (b"[NaN]", "answer is not strict JSON: NaN is not a JSON value"),
        (b"[" + b"7" * 5000 + b"]", "answer is not strict JSON: an integer with more than 4300 digits"),
        (b"\xff\xfe", "answer is not UTF-8 text"),
        (b"  ", "answer is empty, expected JSON"),
    ],
)
def test_each_composed_message_says_each_thing_once(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError) as err:
        parse_json(body, "application/json", "https://api.example/items")

    assert str(err.value) == message
    assert not DOUBLED.search(str(err.value)), str(err.value)
    assert "sys.set_int_max_str_digits" not in str(err.value)
