"""The destination load step on staged batches, in the real database (PostgreSQL, or SQLite
on the embedded default): the version rule, duplicates, a re-delivered batch."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import Product, Tag
from syncers.destinations.deletions import pending_deletion_approve
from syncers.models import FailedRecord, PendingDeletion, SyncBatch, SyncedRecord, SyncRun
from syncers.pipeline.load import load_batch

pytestmark = pytest.mark.django_db

DESTINATION = {
    "model": "catalog.Product",
    "key": ["sku"],
    "fields": {"sku": "sku", "name": "name", "price": "price", "updated_at": "updated_at"},
}


def record(sku: str, name: str, version: int) -> dict:
    return {
        "sku": sku,
        "name": name,
        "price": "1.00",
        "version": version,
        "updated_at": "2026-01-01T00:00:00Z",
    }


def stage(client, records: list) -> SyncBatch:
    run = SyncRun.objects.create(client=client, trigger="command", status="running")
    return SyncBatch.objects.create(
        client=client, run=run, fence=client.fence, page=1, size=len(records), payload=json.dumps(records)
    )


@pytest.fixture
def versioned(make_client):
    return make_client(
        handler="rest", config={"path": "/x", "version_field": "version"}, destination=DESTINATION
    )


def test_the_newest_version_wins_inside_a_batch_and_against_the_stored_row(versioned) -> None:
    first = load_batch(
        stage(versioned, [record("A", "v3", 3), record("A", "v2", 2), record("B", "b1", 1)]).pk
    )

    assert (first.created, first.updated, first.unchanged, first.older) == (2, 0, 0, 1)
    assert Product.objects.get(sku="A").name == "v3"

    stale = load_batch(stage(versioned, [record("A", "v1 served late", 1), record("B", "b2", 2)]).pk)

    assert (stale.created, stale.updated, stale.unchanged, stale.older) == (0, 1, 1, 1)
    assert dict(Product.objects.values_list("sku", "name")) == {"A": "v3", "B": "b2"}
    assert SyncedRecord.objects.get(client=versioned, external_id="B").version == 2


def test_a_done_batch_delivered_again_writes_nothing(versioned) -> None:
    batch = stage(versioned, [record("A", "a", 1)])
    load_batch(batch.pk)
    Product.objects.update(name="edited here", updated_at=timezone.now())

    assert load_batch(batch.pk) is None
    assert Product.objects.get(sku="A").name == "edited here"


def test_fields_not_mapped_get_their_model_default_on_insert_and_are_left_alone_on_update(
    versioned,
) -> None:
    load_batch(stage(versioned, [record("A", "a1", 1)]).pk)

    assert Product.objects.get(sku="A").is_active is True  # Product.is_active: default=True
    Product.objects.filter(sku="A").update(is_active=False)  # the team's own change

    again = load_batch(stage(versioned, [record("A", "a2", 2)]).pk)

    assert (again.created, again.updated) == (0, 1)
    assert Product.objects.values_list("name", "is_active").get(sku="A") == ("a2", False)


def test_approving_held_deletions_spares_a_key_a_later_run_saw_unchanged(make_client) -> None:
    client = make_client(
        handler="rest", config={"path": "/x"}, destination={**DESTINATION, "on_missing": "delete"}
    )
    load_batch(stage(client, [record("A", "a", 1), record("B", "b", 1)]).pk)
    held_by = SyncRun.objects.create(client=client, trigger="command", status="partial")
    held = PendingDeletion.objects.create(
        client=client, run=held_by, keys=["A", "B"], live_rows=2, reason="empty listing", action="delete"
    )
    # A later run (not a complete listing) serves A again, unchanged: no row is rewritten.
    later = load_batch(stage(client, [record("A", "a", 1)]).pk)
    assert (later.created, later.updated, later.unchanged) == (0, 0, 1)

    applied = pending_deletion_approve(pending=held, who="tester")

    assert applied == 1
    assert list(Product.objects.values_list("sku", flat=True)) == ["A"]


def test_many_to_many_links_are_replaced_for_written_rows_only(make_client) -> None:
    Tag.objects.bulk_create(Tag(slug=s, name=s) for s in ("eco", "sale", "new"))
    client = make_client(
        handler="rest",
        config={"path": "/x"},
        destination={
            **DESTINATION,
            "fields": {**DESTINATION["fields"], "tags": {"path": "tags", "lookup": "slug"}},
        },
    )

    def tagged(sku: str, tags: object) -> dict:
        return {**record(sku, sku, 1), "tags": tags}

    def links() -> dict[str, list[str]]:
        return {p.sku: sorted(t.slug for t in p.tags.all()) for p in Product.objects.prefetch_related("tags")}

    first = load_batch(
        stage(client, [tagged("A", ["eco", "sale"]), tagged("B", ["new"]), tagged("C", [])]).pk
    )

    assert (first.created, first.failed) == (3, 0)
    assert links() == {"A": ["eco", "sale"], "B": ["new"], "C": []}
    b_link = Product.tags.through.objects.get(product__sku="B").pk

    # A changes its tags; B is unchanged; D names an unknown tag, E a scalar.
    second = load_batch(
        stage(
            client,
            [tagged("A", ["sale", "new"]), tagged("B", ["new"]), tagged("D", ["gone"]), tagged("E", "eco")],
        ).pk
    )

    assert (second.created, second.updated, second.unchanged, second.failed) == (0, 1, 1, 2)
    assert links() == {"A": ["new", "sale"], "B": ["new"], "C": []}
    assert Product.tags.through.objects.get(product__sku="B").pk == b_link
    reasons = dict(FailedRecord.objects.filter(client=client).values_list("external_id", "reason"))
    assert reasons == {
        "D": "tags: tag 'gone' not found",
        "E": "tags: 'tags' holds \"eco\", not a list of slug values",
    }


def test_a_rows_digest_text_is_json_dumps_text_for_every_kind_of_value() -> None:
    """The ledger holds digests of json.dumps(row, sort_keys=True, compact) text; the faster
    writer must give the same bytes, or every stored row would count as changed once."""
    import math
    import random
    import struct

    from syncers.destinations.load import row_text

    values: list = [0.1, 1e16, 1e-05, 123.0, -0.0, 5e-324, math.inf, -math.inf, math.nan]
    values += [2**64, -(2**63) - 1, 2**63 - 1, True, False, None, "", "plain", "é", "\x7f"]
    values += ["\ud800", '\x00\n\t"\\/\u2028', [1, "a"], {"b": 1, "a": [2.5e-7]}]
    rng = random.Random(20)
    for _ in range(2000):
        values.append(struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0])
        values.append(10 ** rng.uniform(-9, 22))
    for value in values:
        row = {"sku": "SKU-1", "price": value, "name": 1.5}
        want = json.dumps(row, sort_keys=True, separators=(",", ":"), default=str).encode()
        assert row_text(row) == want, value


def test_a_record_back_after_a_delete_mode_deletion_is_created_again_and_counted_created(
    make_client,
) -> None:
    from syncers.destinations.deletions import apply_deletions, client_destination

    client = make_client(
        handler="rest", config={"path": "/x"}, destination={**DESTINATION, "on_missing": "delete"}
    )
    load_batch(stage(client, [record("A", "a", 1), record("B", "b", 1)]).pk)
    dest = client_destination(client)
    assert dest is not None
    assert apply_deletions(client=client, dest=dest, keys=["B"], run_id=None).deleted == ["B"]
    assert list(Product.objects.values_list("sku", flat=True)) == ["A"]

    back = load_batch(stage(client, [record("A", "a", 1), record("B", "b", 1)]).pk)

    # B's model row was deleted: writing it again inserts a row, on every database alike.
    assert (back.created, back.updated, back.unchanged) == (1, 0, 1)
    assert list(Product.objects.values_list("sku", flat=True)) == ["A", "B"]
    assert SyncedRecord.objects.get(client=client, external_id="B").missing_since is None


# --- The per-record checks and the statements per batch ----------------------------------


def test_each_value_goes_through_its_fields_checks_and_a_bad_one_names_the_field(make_client) -> None:
    from syncers.destinations.convert import ValueError_, converter

    client = make_client(handler="rest", config={"path": "/x"}, destination=DESTINATION)
    batch = [
        {**record("A", "a", 1), "price": "1.234"},  # decimal places
        {**record("B", "", 1)},  # blank=False
        {**record("C", "c", 1), "price": None},  # null=False
        {**record("D", "d", 1), "price": "123456789.00"},  # max_digits
        {**record("E", "e", 1), "updated_at": "yesterday"},  # to_python
        record("F", "f", 1),
    ]

    loaded = load_batch(stage(client, batch).pk)

    assert (loaded.created, loaded.failed) == (1, 5)
    assert dict(FailedRecord.objects.filter(client=client).values_list("external_id", "reason")) == {
        "A": "price: Ensure that there are no more than 2 decimal places.",
        "B": "name: may not be empty",
        "C": "price: required, but the record has no value at 'price'",
        "D": "price: Ensure that there are no more than 10 digits in total.",
        "E": 'updated_at: "yesterday" is not a valid date/time',
    }
    # choices: the field's own validate()
    from django.db import models

    size = converter(models.CharField(max_length=2, choices=[("S", "small"), ("L", "large")]), "size", "size")
    assert size("L") == "L"
    with pytest.raises(ValueError_, match=r"^size: Value 'XL' is not a valid choice\.$"):
        size("XL")


@contextmanager
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The SQL statements sent meanwhile: on PostgreSQL every psycopg cursor's (the load's
    own statements bypass Django's cursor wrapper), elsewhere Django's."""
    sent: list[str] = []
    if connection.vendor == "postgresql":
        import psycopg

        execute = psycopg.Cursor.execute

        def recording(self, query, *args, **kwargs):  # type: ignore[no-untyped-def]
            sent.append(query if isinstance(query, str) else str(query))
            return execute(self, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "execute", recording)
        yield sent
        monkeypatch.undo()
        return
    with CaptureQueriesContext(connection) as queries:
        yield sent
    sent += [q["sql"] for q in queries.captured_queries]


def test_a_batch_is_one_insert_into_the_model_and_one_query_per_foreign_key_field(
    make_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from catalog.models import Category

    Category.objects.bulk_create(Category(code=c, name=c) for c in ("c1", "c2", "c3"))
    client = make_client(
        handler="rest",
        config={"path": "/x"},
        destination={
            **DESTINATION,
            "fields": {**DESTINATION["fields"], "category": {"path": "category.code", "lookup": "code"}},
        },
    )
    records = [{**record(f"S{i}", f"n{i}", 1), "category": {"code": f"c{i % 3 + 1}"}} for i in range(30)]

    batch = stage(client, records)

    with statements(monkeypatch) as sql:
        loaded = load_batch(batch.pk)

    assert (loaded.created, loaded.failed) == (30, 0)
    assert len([s for s in sql if s.lstrip().startswith('INSERT INTO "catalog_product"')]) == 1, sql
    assert len([s for s in sql if '"catalog_category"' in s]) == 1, sql
    assert Product.objects.filter(category__code="c2").count() == 10


# --- Deletions when a complete run is finalised --------------------------------------------


def complete_run(client, seen: list[str]) -> SyncRun:
    """A run that read the whole listing and saw only `seen` (unchanged), its fetch done and
    its batch loaded: what finalise_if_complete decides deletions for."""
    run = SyncRun.objects.create(
        client=client, trigger="command", status="running", fence=client.fence,
        fetch_done=True, listing_complete=True, fetched=len(seen),
    )  # fmt: skip
    SyncBatch.objects.create(
        client=client, run=run, fence=client.fence, page=1, size=len(seen), payload="",
        state=SyncBatch.State.DONE, unchanged=len(seen), seen_keys=seen,
    )  # fmt: skip
    return run


def loaded_client(make_client, **destination: object):
    client = make_client(handler="rest", config={"path": "/x"}, destination={**DESTINATION, **destination})
    load_batch(stage(client, [record(k, k, 1) for k in "ABCDEFGHIJ"]).pk)
    client.refresh_from_db()
    return client


def test_a_complete_run_whose_fence_a_newer_run_took_deletes_nothing(make_client) -> None:
    from syncers.pipeline.fence import take_fence
    from syncers.pipeline.log import finalise_if_complete

    client = loaded_client(make_client, on_missing="delete")
    run = complete_run(client, list("ABCDEFGHI"))  # J is gone from the listing
    take_fence(client.pk)  # a newer run started: this one no longer holds the lease

    finished = finalise_if_complete(run.pk)

    assert finished is not None and finished.deleted == 0
    assert Product.objects.count() == 10

    client.refresh_from_db()
    again = finalise_if_complete(complete_run(client, list("ABCDEFGHI")).pk)  # its fence current

    assert again is not None and again.deleted == 1
    assert not Product.objects.filter(sku="J").exists()


def test_on_missing_keep_deletes_nothing_after_a_complete_run(make_client) -> None:
    from syncers.pipeline.log import finalise_if_complete

    client = loaded_client(make_client)  # on_missing: keep, the default

    finished = finalise_if_complete(complete_run(client, list("ABCDEFGHI")).pk)

    assert finished is not None and (finished.status, finished.deleted) == ("succeeded", 0)
    assert (
        Product.objects.count() == 10
        and SyncedRecord.objects.filter(missing_since__isnull=False).count() == 0
    )


def test_max_delete_rows_holds_deletions_the_fraction_would_allow(make_client) -> None:
    from syncers.destinations.deletions import deletions_waiting
    from syncers.pipeline.log import finalise_if_complete

    client = loaded_client(make_client, on_missing="delete", max_delete_fraction=0.5, max_delete_rows=2)

    held = finalise_if_complete(complete_run(client, list("ABCDEFG")).pk)  # 3 of 10 gone: 30 %

    assert held is not None and (held.status, held.deleted) == ("partial", 0)
    assert held.error.startswith("3 rows are missing from the listing, over max_delete_rows 2")
    waiting = deletions_waiting(client)
    assert waiting is not None and sorted(waiting.keys) == ["H", "I", "J"]
    assert Product.objects.count() == 10

    client.refresh_from_db()
    allowed = finalise_if_complete(complete_run(client, list("ABCDEFGHI")).pk)  # 1 gone: within both

    assert allowed is not None and (allowed.status, allowed.deleted) == ("succeeded", 1)
    assert deletions_waiting(client) is None  # the newer complete run decided afresh


def test_rows_a_protected_foreign_key_keeps_are_not_deleted_and_the_run_says_which(make_client) -> None:
    from catalog.models import Category
    from syncers.destinations.deletions import deletions_waiting, pending_deletion_approve
    from syncers.pipeline.log import finalise_if_complete

    client = make_client(
        handler="rest",
        config={"path": "/x"},
        destination={
            "model": "catalog.Category",
            "key": ["code"],
            "fields": {"code": "code", "name": "name"},
            "on_missing": "delete",
            "max_delete_fraction": 0.5,
        },
    )
    load_batch(stage(client, [{"code": c, "name": c} for c in "abcdef"]).pk)
    client.refresh_from_db()
    Product.objects.create(  # Product.category: on_delete=PROTECT
        sku="P", name="p", price=1, category=Category.objects.get(code="b"), updated_at=timezone.now()
    )

    run = finalise_if_complete(complete_run(client, list("adef")).pk)  # b and c are gone

    assert run is not None and (run.status, run.deleted) == ("partial", 1)
    assert run.error.startswith("1 row could not be deleted and stays (b): Cannot delete some instances")
    assert sorted(Category.objects.values_list("code", flat=True)) == ["a", "b", "d", "e", "f"]
    assert SyncedRecord.objects.get(client=client, external_id="b").missing_since is None

    # An approved deletion the rule refuses is skipped the same way, the rest applied.
    client.refresh_from_db()
    held_run = finalise_if_complete(complete_run(client, ["a"]).pk)  # b, d, e, f: over 50 %
    assert held_run is not None and held_run.deleted == 0
    waiting = deletions_waiting(client)
    assert waiting is not None and sorted(waiting.keys) == ["b", "d", "e", "f"]

    assert pending_deletion_approve(pending=waiting, who="tester") == 3
    assert sorted(Category.objects.values_list("code", flat=True)) == ["a", "b"]


def test_a_row_deleted_by_hand_stays_gone_while_unchanged_until_its_ledger_row_goes_too(
    make_client,
) -> None:
    client = make_client(handler="rest", config={"path": "/x"}, destination=DESTINATION)
    load_batch(stage(client, [record("A", "a", 1), record("B", "b", 1)]).pk)
    Product.objects.filter(sku="A").delete()  # by hand, not by the sync

    again = load_batch(stage(client, [record("A", "a", 1), record("B", "b", 1)]).pk)

    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)  # the ledger is trusted
    assert list(Product.objects.values_list("sku", flat=True)) == ["B"]

    SyncedRecord.objects.filter(client=client, external_id="A").delete()  # Synced records in the admin
    back = load_batch(stage(client, [record("A", "a", 1), record("B", "b", 1)]).pk)

    assert (back.created, back.updated, back.unchanged) == (1, 0, 1)
    assert list(Product.objects.values_list("sku", flat=True)) == ["A", "B"]


# --- Hooks: what before_write may do to the rows, what after_write is told ---------------

from syncers.destinations.hooks import HookContext, Row, WriteResult, after_write, before_write  # noqa: E402

TOLD: list[WriteResult] = []


@before_write
def shout_and_drop(ctx: HookContext, rows: list[Row]) -> list[Row]:
    """Change a row (name upper-cased), drop one (sku D), reject one (sku R)."""
    kept = []
    for row in rows:
        if row["sku"] == "R":
            ctx.reject(row, "R is reserved")
        if row["sku"] != "D":
            kept.append({**row, "name": row["name"].upper()} if row["sku"] == "A" else row)
    return kept


@after_write
def tell(ctx: HookContext, result: WriteResult) -> None:
    TOLD.append(result)


def test_before_write_changes_drops_and_rejects_rows_and_after_write_is_told_the_keys(make_client) -> None:
    hooks = {
        "before_write": "tests.test_destinations_load:shout_and_drop",
        "after_write": "tests.test_destinations_load:tell",
    }
    client = make_client(handler="rest", config={"path": "/x"}, destination={**DESTINATION, "hooks": hooks})
    TOLD.clear()

    first = load_batch(stage(client, [record(k, k.lower(), 1) for k in "ABDR"]).pk)

    assert (first.created, first.failed) == (2, 1)
    assert dict(Product.objects.values_list("sku", "name")) == {"A": "A", "B": "b"}
    assert FailedRecord.objects.get(client=client).reason == "rejected by before_write: R is reserved"
    assert [(r.created, r.updated, r.deleted) for r in TOLD] == [(["A", "B"], [], [])]

    load_batch(stage(client, [record("A", "a", 1), record("B", "b2", 2)]).pk)

    assert TOLD[-1].created == [] and TOLD[-1].updated == ["B"]  # A unchanged: not written, not told


def test_soft_deletes_into_a_nullable_date_time_field_set_it_to_now_and_a_comeback_clears_it(
    make_client,
) -> None:
    """auth.User stands for a team's model with a `deleted_at`-style field: last_login is a
    nullable DateTimeField, username its unique key."""
    from django.contrib.auth.models import User

    from syncers.pipeline.log import finalise_if_complete

    client = make_client(
        handler="rest",
        config={"path": "/x"},
        destination={
            "model": "auth.User",
            "key": ["username"],
            "fields": {"username": "sku", "first_name": "name"},
            "on_missing": "soft",
            "soft_delete_field": "last_login",
            "max_delete_fraction": 0.5,
        },
    )
    load_batch(stage(client, [record(k, k, 1) for k in "ABC"]).pk)
    client.refresh_from_db()
    before = timezone.now()

    run = finalise_if_complete(complete_run(client, ["A", "C"]).pk)

    assert run is not None and run.deleted == 1
    gone = User.objects.get(username="B").last_login
    assert gone is not None and gone >= before
    assert User.objects.filter(last_login__isnull=True).count() == 2

    back = load_batch(stage(client, [record("B", "B", 1)]).pk)

    assert (back.created, back.updated) == (0, 1)
    assert User.objects.get(username="B").last_login is None


def test_the_ledger_keeps_no_copy_of_the_record_unless_store_json_is_set(make_client) -> None:
    lean = make_client("lean", handler="rest", config={"path": "/x"}, destination=DESTINATION)
    load_batch(stage(lean, [record("A", "a", 1)]).pk)

    assert SyncedRecord.objects.get(client=lean).data == {}

    full = make_client(
        "full", handler="rest", config={"path": "/x"}, destination={**DESTINATION, "store_json": True}
    )
    load_batch(stage(full, [record("B", "b", 1)]).pk)

    assert SyncedRecord.objects.get(client=full).data == record("B", "b", 1)
