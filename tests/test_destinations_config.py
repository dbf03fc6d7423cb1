"""A destination's config, refused at the boundary with the place named (model, YAML), and
the operator's approval command for held deletions."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from catalog.models import Product
from syncers.destinations.config import parse_destination
from syncers.models import PendingDeletion, SyncClient, SyncedRecord

pytestmark = pytest.mark.django_db

GOOD = {
    "model": "catalog.Product",
    "key": ["sku"],
    "fields": {"sku": "id", "name": "title", "price": "pricing.amount", "updated_at": "updated_at"},
}


def errors(**changes: object) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        parse_destination({**GOOD, **changes})
    return caught.value.messages


def test_a_good_destination_parses_with_its_defaults() -> None:
    dest = parse_destination(
        {**GOOD, "fields": {**GOOD["fields"], "category": {"path": "c.code", "lookup": "code"}}}
    )

    assert dest.label == "catalog.Product" and dest.key == ("sku",)
    assert [f.name for f in dest.fields] == ["sku", "name", "price", "updated_at", "category"]
    assert (dest.on_missing, dest.max_delete_fraction, dest.max_delete_rows, dest.store_json) == (
        "keep",
        0.1,
        None,
        False,
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model": "shop.Product"}, "model: no installed model 'shop.Product'"),
        ({"fields": {**GOOD["fields"], "prix": "price"}}, "fields.prix: catalog.Product has no field 'prix'"),
        ({"key": ["name"]}, "key: catalog.Product.name has no unique constraint"),
        ({"key": ["sku", "name"]}, "key: catalog.Product has no UniqueConstraint on exactly (sku, name)"),
        (
            {"fields": {**GOOD["fields"], "category": "category.code"}},
            "fields.category: a foreign key needs {path: ..., lookup: <unique field of the target>}",
        ),
        (
            {"fields": {**GOOD["fields"], "category": {"path": "c", "lookup": "name"}}},
            "fields.category: lookup: catalog.Category.name is not unique",
        ),
        (
            {"fields": {**GOOD["fields"], "name": {"path": "t", "lookup": "x"}}},
            "fields.name: lookup is only for foreign keys",
        ),
        ({"on_missing": "purge"}, "on_missing: one of keep, soft, delete"),
        (
            {"on_missing": "soft"},
            "soft_delete_field: on_missing: soft needs a boolean or nullable date/time field",
        ),
        (
            {"on_missing": "soft", "soft_delete_field": "name"},
            "soft_delete_field: catalog.Product.name must be a BooleanField",
        ),
        ({"max_delete_fraction": 1.5}, "max_delete_fraction: a number from 0 to 1"),
        ({"max_delete_rows": -1}, "max_delete_rows: a whole number >= 0"),
        (
            {"hooks": {"after_write": "os:system"}},
            "hooks.after_write: no registered after_write hook 'os:system'",
        ),
        ({"colour": "blue"}, "unknown key colour"),
        (
            {"fields": {**GOOD["fields"], "tags": "tags"}},
            "fields.tags: a many-to-many field needs {path: ..., lookup: <unique field of the target>}",
        ),
        (
            {"fields": {**GOOD["fields"], "tags": {"path": "tags", "lookup": "name"}}},
            "fields.tags: lookup: catalog.Tag.name is not unique",
        ),
        (
            {"fields": {**GOOD["fields"], "category": {"path": "c", "lookup": "products"}}},
            "fields.category: lookup: catalog.Category.products is a ManyToOneRel; "
            "a natural key is a single value",
        ),
        (
            {"key": ["tags"], "fields": {**GOOD["fields"], "tags": {"path": "tags", "lookup": "slug"}}},
            "key: 'tags' is a ManyToManyField; a key is made of single-value fields",
        ),
        # Wrong-kind paths the mapping alone shows: a path another one reads inside.
        (
            {"fields": {**GOOD["fields"], "price": "pricing", "name": "pricing.label"}},
            "fields.price: 'pricing' holds an object (fields.name reads 'pricing.label' inside it), "
            "but price (DecimalField) takes a single value",
        ),
        (
            {"fields": {**GOOD["fields"], "name": "labels", "sku": "labels.0"}},
            "fields.name: 'labels' holds a list or an object (fields.sku reads 'labels.0' inside it), "
            "but name (CharField) takes a single value",
        ),
        (
            {"fields": {**GOOD["fields"], "tags": {"path": "meta", "lookup": "slug"}, "name": "meta.title"}},
            "fields.tags: 'meta' holds an object (fields.name reads 'meta.title' inside it), "
            "but tags (ManyToManyField) takes a list",
        ),
    ],
)
def test_bad_destinations_are_refused_naming_the_place(changes: dict, message: str) -> None:
    assert any(m.startswith(message) for m in errors(**changes)), errors(**changes)


def test_a_many_to_many_by_natural_key_parses_and_may_read_inside_its_list() -> None:
    fields = {**GOOD["fields"], "tags": {"path": "tags", "lookup": "slug"}, "name": "tags.0"}

    dest = parse_destination({**GOOD, "fields": fields})

    tags = next(f for f in dest.fields if f.name == "tags")
    assert (tags.is_m2m, tags.is_fk, tags.lookup) == (True, False, "slug")


def test_the_client_model_refuses_a_bad_destination_at_the_field(make_client) -> None:
    with pytest.raises(ValidationError) as caught:
        make_client(destination={**GOOD, "key": ["name"]})

    assert list(caught.value.message_dict) == ["destination"]
    assert "key: catalog.Product.name has no unique constraint" in caught.value.message_dict["destination"][0]


YAML = """
connections:
  - name: shop-api
    base_url: http://127.0.0.1:8765
clients:
  - name: products
    connection: shop-api
    handler: rest
    config: {path: /catalog/products}
    destination:
      model: catalog.Product
      key: [sku]
      fields:
        sku: sku
        name: name
        %s: price
        category: {path: category.code, lookup: code}
        updated_at: updated_at
      on_missing: soft
      soft_delete_field: is_active
      max_delete_fraction: 0.10
"""


def apply(path: Path, *args: str) -> str:
    out = StringIO()
    call_command("sync_apply", str(path), *args, stdout=out)
    return out.getvalue()


def test_sync_apply_dry_run_names_the_yaml_path_of_a_bad_destination(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(YAML % "prix")

    with pytest.raises(
        CommandError,
        match=re.escape(
            "clients[0] (products): destination: fields.prix: catalog.Product has no field 'prix'"
        ),
    ):
        apply(path, "--dry-run")
    assert not SyncClient.objects.exists()


def test_sync_apply_dry_run_refuses_a_path_into_a_field_of_the_wrong_kind(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(YAML.replace("        name: name", "        name: price.label") % "price")

    with pytest.raises(
        CommandError,
        match=re.escape(
            "clients[0] (products): destination: fields.price: 'price' holds an object "
            "(fields.name reads 'price.label' inside it), but price (DecimalField) takes a single value"
        ),
    ):
        apply(path, "--dry-run")
    assert not SyncClient.objects.exists()


def test_a_destination_applies_from_yaml_and_exports_back(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(YAML % "price")

    apply(path)

    client = SyncClient.objects.get(name="products")
    assert client.destination["model"] == "catalog.Product"
    assert client.destination["fields"]["category"] == {"path": "category.code", "lookup": "code"}
    out = StringIO()
    call_command("sync_export", stdout=out)
    assert "soft_delete_field: is_active" in out.getvalue()
    assert apply(path).strip() == "nothing to change"


def test_sync_deletions_lists_approves_exactly_the_keys_and_then_has_nothing_waiting(make_client) -> None:
    client = make_client(destination={**GOOD, "on_missing": "delete"})
    now = timezone.now()
    for sku in ("A", "B", "C"):
        p = Product.objects.create(sku=sku, name=sku, price=1, updated_at=now)
        SyncedRecord.objects.create(
            client=client, external_id=sku, data={}, source_seq=1, created_batch=1, target_pk=str(p.pk)
        )
    PendingDeletion.objects.create(
        client=client, keys=["A", "B"], live_rows=3, reason="test hold", action="delete"
    )

    listed = StringIO()
    call_command("sync_deletions", client.name, "--list", stdout=listed)
    assert "2 deletions (delete) waiting" in listed.getvalue() and "  A\n  B\n" in listed.getvalue()

    approved = StringIO()
    call_command("sync_deletions", client.name, "--approve", "--by", "ops", stdout=approved)

    assert "Approved 2 deletions: 2 rows deleted" in approved.getvalue()
    assert list(Product.objects.values_list("sku", flat=True)) == ["C"]
    with pytest.raises(CommandError, match="no deletions waiting"):
        call_command("sync_deletions", client.name, "--reject")
