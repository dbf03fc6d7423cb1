"""Product records computed on demand from (seed, index), so a million cost no RAM."""

from __future__ import annotations

import bisect
import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

_M64 = (1 << 64) - 1
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

_ADJ = (
    "Rugged", "Compact", "Deluxe", "Classic", "Modern", "Vintage", "Portable",
    "Premium", "Sturdy", "Elegant", "Handmade", "Smart", "Quiet", "Bright",
    "Foldable", "Heavy-Duty",
)  # fmt: skip
_MAT = (
    "Oak", "Steel", "Walnut", "Bamboo", "Copper", "Ceramic", "Linen", "Glass",
    "Leather", "Granite", "Alloy", "Cotton", "Brass", "Marble", "Wool", "Cork",
)  # fmt: skip
_NOUN = (
    "Desk Lamp", "Kettle", "Bookshelf", "Backpack", "Chair", "Coffee Grinder",
    "Cutting Board", "Planter", "Wall Clock", "Water Bottle", "Notebook",
    "Side Table", "Speaker", "Toolbox", "Blanket", "Mirror",
)  # fmt: skip
_TAGS = (
    "home", "office", "outdoor", "kitchen", "gift", "eco", "sale", "new",
    "bestseller", "travel", "kids", "garden", "diy", "audio", "decor", "limited",
)  # fmt: skip
TAG_SLUGS = _TAGS  # every tag a record's `tags` list uses (the /catalog/tags listing)
_DESC_A = (
    "Built to last with reinforced joints and a clean finish.",
    "Designed in-house and tested for everyday use at scale.",
    "A practical choice that fits small and large spaces alike.",
    "Carefully packed and shipped from our regional warehouse.",
    "Made from responsibly sourced materials and low-VOC coatings.",
    "Easy to assemble with the included tools and short guide.",
    "Backed by a two-year warranty and friendly customer support.",
    "Lightweight yet stable thanks to a balanced base design.",
)  # fmt: skip
_DESC_B = (
    "Wipe clean with a damp cloth; avoid harsh chemical cleaners.",
    "Available in several colours while stocks last this season.",
    "Pairs well with other items from the same product family.",
    "Dimensions and weight are listed on the specification sheet.",
    "Ideal as a gift and arrives in recyclable, plastic-free packaging.",
    "Store in a dry place away from direct sunlight when unused.",
    "Customers rate it highly for value, comfort and durability.",
    "Spare parts can be ordered separately through our support desk.",
)  # fmt: skip


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


_NAMES = tuple(f"{a} {m} {n}" for a in _ADJ for m in _MAT for n in _NOUN)
_DESCS = tuple(f"{a} {b}" for a in _DESC_A for b in _DESC_B)
_TAG_SETS = tuple(
    _dumps([_TAGS[k % 16], _TAGS[(k + 5) % 16], _TAGS[(k + 11) % 16]][: 2 + k // 16]) for k in range(32)
)


def updated_at(version: int) -> str:
    """Timestamps follow the version so clients can see ordering without a clock."""
    return (_EPOCH + timedelta(minutes=version)).strftime("%Y-%m-%dT%H:%M:%SZ")


_BASE_TIME = _EPOCH + timedelta(minutes=1)  # updated_at of every record never changed


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 timestamp as an aware datetime (naive means UTC); None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_TEMPLATE = (
    '{"id":%d,"sku":"SKU-%07d","name":"%s X-%d","price":"%d.%02d","stock":%d,'
    '"tags":%s,"description":"%s","version":1,"updated_at":"' + updated_at(1) + '"}'
)


class Dataset:
    """Base records are never stored; only overridden ones are, pre-serialised. A record's id
    is its index + 1. The listing is indexes 0..total-1 until a record is inserted or deleted;
    from then on it is an explicit order (tests change a few hundred records, never a million).

    The served log remembers which records a listing returned (a flag per index, and the text
    of overridden ones: a base record's text is computed), so the oracle can expect a record
    the API served and later deleted, and not one deleted before it was ever served."""

    def __init__(self, records: int, seed: int) -> None:
        self.total = records  # records listed now
        self.seed = seed
        self._salt = (seed * 0xBF58476D1CE4E5B9 + 0x632BE59BD9B4E5) & _M64
        self._overrides: dict[int, str] = {}
        # updated_at of overridden records (None: none usable), for updated_since filtering.
        self._times: dict[int, datetime | None] = {}
        self._lock = threading.Lock()
        self._next = records  # the next inserted record's index
        # Listing order once records were inserted or deleted (None: 0..total-1), and the same
        # with deleted indexes left in place: where a keyset cursor naming one continues.
        # Both are replaced, never changed in place, so a reader needs no lock.
        self._live: list[int] | None = None
        self._order: list[int] | None = None
        self._deleted: set[int] = set()
        self._reserved: set[int] = set()  # inserts scheduled for later, not listed yet
        self._served = bytearray(records)
        self._served_text: dict[int, str] = {}

    def _base(self, i: int) -> str:
        x = ((i + 1) * 0x9E3779B97F4A7C15 ^ self._salt) & _M64
        x = ((x ^ (x >> 31)) * 0x94D049BB133111EB) & _M64
        x ^= x >> 29
        cents = 199 + (x >> 40) % 99_801
        return _TEMPLATE % (
            i + 1,
            i + 1,
            _NAMES[x & 4095],
            100 + (x >> 12) % 900,
            cents // 100,
            cents % 100,
            (x >> 22) % 1000,
            _TAG_SETS[(x >> 32) & 31],
            _DESCS[(x >> 52) & 63],
        )

    def positions(self, start: int, stop: int) -> Sequence[int]:
        """Indexes of the records at listing positions [start, stop)."""
        live = self._live
        return range(start, min(stop, self.total)) if live is None else live[start:stop]

    def page(self, start: int, stop: int) -> list[str]:
        """JSON text per record, ready to splice into a response body (not logged as served)."""
        return self.rows(self.positions(start, stop))

    def rows(self, indexes: Sequence[int]) -> list[str]:
        """JSON text of the records at these indexes, in that order."""
        overrides, base = self._overrides, self._base
        if not overrides:
            return [base(i) for i in indexes]
        return [overrides.get(i) or base(i) for i in indexes]

    def serve(self, indexes: Sequence[int]) -> list[str]:
        """rows() for a listing answer, noted in the served log."""
        served, overrides, base = self._served, self._overrides, self._base
        if isinstance(indexes, range) and indexes.step == 1:
            served[indexes.start : indexes.stop] = b"\x01" * len(indexes)
        else:
            for i in indexes:
                served[i] = 1
        if not overrides:
            return [base(i) for i in indexes]
        rows = []
        for i in indexes:
            text = overrides.get(i)
            if text is None:
                text = base(i)
            else:
                self._served_text[i] = text
            rows.append(text)
        return rows

    def listed(self, index: int) -> bool:
        if self._live is None:
            return 0 <= index < self.total
        return 0 <= index < self._next and index not in self._deleted and index not in self._reserved

    def ordered(self, since: datetime) -> list[tuple[datetime, int]]:
        """(updated_at, index) of every record with updated_at >= since (inclusive), ordered
        by updated_at, then position: the listing an `updated_since` request pages through."""
        with self._lock:
            times = dict(self._times)
            live = self._live
        listed = self.listed
        chosen = [(t, i) for i, t in times.items() if t is not None and t >= since and listed(i)]
        if since <= _BASE_TIME:
            everyone = range(self.total) if live is None else live
            chosen += [(_BASE_TIME, i) for i in everyone if i not in times]
        chosen.sort()
        return chosen

    @staticmethod
    def after(listing: list[tuple[datetime, int]], key: tuple[datetime, int]) -> int:
        """Where a keyset cursor continues: the first entry after `key`."""
        return bisect.bisect_right(listing, key)

    def position_after(self, index: int) -> int:
        """Where a keyset cursor naming `index` continues in the unfiltered listing, also when
        records were inserted before it or it was deleted since."""
        order = self._order
        if order is None:
            return index + 1
        try:
            at = order.index(index)
        except ValueError:
            raise ValueError("cursor is not one this API issued") from None
        deleted = self._deleted
        return sum(1 for i in order[: at + 1] if i not in deleted)

    def time_of(self, index: int) -> datetime | None:
        return self._times.get(index, _BASE_TIME) if self.listed(index) else None

    def all_json(self) -> str:
        return "[" + ",".join(self.page(0, self.total)) + "]"

    def gone_json(self) -> str:
        """Records deleted after a listing served them, at the version it served last."""
        with self._lock:
            deleted = sorted(i for i in self._deleted if self._served[i])
        return "[" + ",".join(self._served_text.get(i) or self._base(i) for i in deleted) + "]"

    def indexes(self, ids: Any) -> list[int]:
        if not isinstance(ids, list) or any(type(i) is not int or not self.listed(i - 1) for i in ids):
            raise ValueError("ids must be ids of records listed now")
        return sorted({i - 1 for i in ids})

    def update(self, ids: list[Any], fields: dict[str, Any]) -> list[int]:
        """Bump versions the way a real upstream edit would, so syncs see changes."""
        with self._lock:
            staged = {}
            for index in self.indexes(ids):
                record = json.loads(self._overrides.get(index) or self._base(index))
                if not isinstance(record, dict):
                    raise ValueError(f"record id {index + 1} is not an object")
                version = record.get("version")
                record["version"] = version + 1 if type(version) is int else 2
                record["updated_at"] = updated_at(record["version"])
                record.update(fields)
                staged[index] = _dumps(record)
            self._store(staged)
        return sorted(i + 1 for i in staged)

    def touch(self, ids: list[Any], fields: dict[str, Any], at: str | None) -> str:
        """Edit records so they all share one updated_at: `at`, or one minute after the latest
        one served. Many records with one timestamp straddle page boundaries on purpose."""
        moment = parse_time(at) if at is not None else None
        if at is not None and moment is None:
            raise ValueError("at must be an ISO 8601 timestamp")
        if moment is None:
            with self._lock:
                moment = max([_BASE_TIME, *filter(None, self._times.values())]) + timedelta(minutes=1)
        self.update(ids, {**fields, "updated_at": _stamp(moment)})
        return _stamp(moment)

    def _store(self, staged: dict[int, str]) -> None:
        # Caller holds the lock.
        self._overrides.update(staged)
        for index, text in staged.items():
            record = json.loads(text)
            self._times[index] = parse_time(record.get("updated_at")) if isinstance(record, dict) else None

    def replace(self, index: Any, record: Any) -> None:
        """Raw on purpose: tests need records the real API could plausibly botch. `index` is
        a listing position."""
        with self._lock:
            if type(index) is not int or not 0 <= index < self.total:
                raise ValueError(f"index must be an integer in 0..{self.total - 1}")
            self._store({index if self._live is None else self._live[index]: _dumps(record)})

    # --- Records appearing and disappearing between page fetches --------------------------

    def _materialise(self) -> list[int]:
        # Caller holds the lock.
        if self._live is None:
            self._live = list(range(self.total))
            self._order = list(self._live)
        return self._live

    def delete_indexes(self, indexes: list[int]) -> list[int]:
        """Stop listing these records: every later record moves forward by one position per
        deleted record before it. Indexes no longer listed are ignored (a scheduled delete
        may find a record gone already)."""
        with self._lock:
            gone = {i for i in indexes if self.listed(i)}
            self._live = [i for i in self._materialise() if i not in gone]
            self._deleted |= gone
            self.total = len(self._live)
        return sorted(i + 1 for i in gone)

    def restore(self, indexes: list[int]) -> list[int]:
        """List deleted records again at their old places; ids of the ones restored."""
        with self._lock:
            back = {i for i in indexes if i in self._deleted}
            if back:
                self._deleted -= back
                order = self._order or []
                self._live = [i for i in order if i not in self._deleted and i not in self._reserved]
                self.total = len(self._live)
        return sorted(i + 1 for i in back)

    def reserve(self, count: Any, fields: Any) -> list[int]:
        """Indexes for `count` new records (generated like the others, with `fields` over
        them), not listed until place()d."""
        if type(count) is not int or not 1 <= count <= 10_000:
            raise ValueError("count must be an integer in 1..10000")
        if not isinstance(fields, dict):
            raise ValueError("fields must be an object")
        with self._lock:
            indexes = list(range(self._next, self._next + count))
            self._next += count
            self._served.extend(bytes(count))
            self._reserved.update(indexes)
            if fields:
                self._store({i: _dumps({**json.loads(self._base(i)), **fields}) for i in indexes})
        return indexes

    def check_position(self, at: Any) -> int:
        if type(at) is not int or not 0 <= at <= self.total:
            raise ValueError(f"at must be a listing position in 0..{self.total}")
        return at

    def place(self, at: int, indexes: list[int]) -> list[int]:
        """List reserved records from position `at` on (past the end: at the end); every
        record after them moves back by as many positions."""
        with self._lock:
            live = self._materialise()
            order = self._order
            assert order is not None
            at = min(at, len(live))
            k = order.index(live[at]) if at < len(live) else len(order)
            self._order = order[:k] + indexes + order[k:]
            self._live = live[:at] + indexes + live[at:]
            self._reserved.difference_update(indexes)
            self.total = len(self._live)
        return [i + 1 for i in indexes]
