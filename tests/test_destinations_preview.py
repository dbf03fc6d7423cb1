""" "Test fetch" of a destination client flags, per row and once per field, a mapped path
holding the wrong kind of value (what only the data shows), against the real fake API."""

from __future__ import annotations

import pytest

from catalog.models import Category, Product, Tag
from fakeapi.control import FakeApi
from fakeapi.listings import CATALOG_PRODUCT_FIELDS, CATALOG_TAGS_FIELD, CATEGORIES, TAGS
from syncers.models import SyncedRecord
from syncers.services import client_test_fetch

pytestmark = pytest.mark.django_db(transaction=True)

PRICE_OBJECT = (
    "price: 'price' holds an object, not a decimal value; map a path inside it, e.g. 'price.amount'"
)
TAGS_TEXT = "tags: 'tags' holds \"eco\", not a list of slug values"
NAME_LIST = "name: 'name' holds a list, not a text value; map a path to one element, e.g. 'name.0'"


@pytest.fixture
def tagged_client(make_client):
    Category.objects.bulk_create(Category(**c) for c in CATEGORIES)
    Tag.objects.bulk_create(Tag(**t) for t in TAGS)
    return make_client(
        handler="rest",
        config={"path": "/catalog/products", "page_size": 5},
        destination={
            "model": "catalog.Product",
            "key": ["sku"],
            "fields": {**CATALOG_PRODUCT_FIELDS, **CATALOG_TAGS_FIELD},
        },
    )


def test_test_fetch_flags_paths_holding_the_wrong_kind_per_row_and_per_field(
    api: FakeApi, tagged_client
) -> None:
    records = api.records()
    api.replace(1, {**records[1], "price": {"amount": "9.90", "currency": "EUR"}})
    api.replace(2, {**records[2], "tags": "eco"})
    api.replace(3, {**records[3], "price": {"amount": "1.00"}, "name": ["Lamp", "Lampe"]})

    result = client_test_fetch(client=tagged_client, limit=5)

    assert [row.error for row in result.rows] == [
        "",
        PRICE_OBJECT,
        TAGS_TEXT,
        f"{NAME_LIST}; {PRICE_OBJECT}",
        "",
    ]
    assert result.rows[0].values["tags"] == records[0]["tags"]  # natural keys as served
    assert result.wrong_kinds == [
        "fields.name: in 1 of 5 records 'name' holds a list, not a text value; "
        "map a path to one element, e.g. 'name.0'",
        "fields.price: in 2 of 5 records 'price' holds an object, not a decimal value; "
        "map a path inside it, e.g. 'price.amount'",
        "fields.tags: in 1 of 5 records 'tags' holds \"eco\", not a list of slug values",
    ]
    assert not Product.objects.exists() and not SyncedRecord.objects.exists()
