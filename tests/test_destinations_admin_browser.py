"""The destination section of the client page in headless Chromium: field choices offered,
a bad destination refused at its field, Test fetch showing model rows with per-row errors
and writing nothing, held deletions approved with one button."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone
from playwright.sync_api import Page

from catalog.models import Category, Product
from fakeapi.control import FakeApi
from fakeapi.listings import CATEGORIES
from syncers.models import PendingDeletion, SyncClient, SyncedRecord

from .test_admin_browser import PASSWORD, admin_login
from .test_destinations import DESTINATION

pytest_plugins = ["tests.browser"]
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser("operator", "op@example.com", PASSWORD)


@pytest.fixture
def catalog_client(make_client) -> SyncClient:
    return make_client(
        handler="rest", config={"path": "/catalog/products", "page_size": 5}, destination=DESTINATION
    )


def test_a_bad_destination_is_shown_at_its_field_with_the_models_fields_offered(
    page: Page, operator, catalog_client: SyncClient
) -> None:
    admin_login(page, "operator", PASSWORD)
    page.goto(f"/admin/syncers/syncclient/{catalog_client.pk}/change/")
    offered = page.locator("#destination-fields").inner_text()
    assert "sku CharField [unique]" in offered and "category ForeignKey -> catalog.Category" in offered

    page.fill("#id_destination", json.dumps({**DESTINATION, "key": ["name"]}))
    page.click("input[name=_save]")

    row = page.locator(".form-row.field-destination")
    assert "key: catalog.Product.name has no unique constraint" in row.locator(".errorlist").inner_text()
    assert page.locator(".errorlist").count() == 1, "only the destination field is in error"
    catalog_client.refresh_from_db()
    assert catalog_client.destination == DESTINATION


def test_test_fetch_shows_model_rows_with_per_row_errors_and_writes_nothing(
    page: Page, operator, api: FakeApi, catalog_client: SyncClient
) -> None:
    Category.objects.bulk_create(Category(**c) for c in CATEGORIES)
    first = api.records()[1]
    api.replace(1, {**first, "price": "NaN"})
    admin_login(page, "operator", PASSWORD)
    page.goto(f"/admin/syncers/syncclient/{catalog_client.pk}/change/")

    page.click("#test-fetch-button")

    rows = page.locator("#test-fetch-rows tbody tr")
    assert rows.count() == 5
    assert "SKU-0000001" in rows.nth(0).inner_text() and rows.nth(0).inner_text().strip().endswith("yes")
    assert 'price: "NaN" is not a valid decimal' in rows.nth(1).inner_text()
    assert not Product.objects.exists() and not SyncedRecord.objects.exists()


def test_test_fetch_says_which_mapped_path_holds_the_wrong_kind_and_what_to_map(
    page: Page, operator, api: FakeApi, catalog_client: SyncClient
) -> None:
    Category.objects.bulk_create(Category(**c) for c in CATEGORIES)
    second = api.records()[1]
    api.replace(1, {**second, "price": {"amount": "9.90", "currency": "EUR"}})
    admin_login(page, "operator", PASSWORD)
    page.goto(f"/admin/syncers/syncclient/{catalog_client.pk}/change/")

    page.click("#test-fetch-button")

    note = page.locator("#test-fetch-wrong-kind").inner_text()
    assert "Mapped paths holding the wrong kind of value" in note
    assert (
        "fields.price: in 1 of 5 records 'price' holds an object, not a decimal value; "
        "map a path inside it, e.g. 'price.amount'"
    ) in note
    row = page.locator("#test-fetch-rows tbody tr").nth(1)
    assert "set aside: price: 'price' holds an object" in row.inner_text()
    assert not Product.objects.exists()


def test_held_deletions_are_listed_and_applied_with_one_button(
    page: Page, operator, catalog_client: SyncClient
) -> None:
    catalog_client.destination = {**DESTINATION, "on_missing": "delete"}
    catalog_client.save()
    for sku in ("A", "B"):
        p = Product.objects.create(sku=sku, name=sku, price=1, updated_at=timezone.now())
        SyncedRecord.objects.create(
            client=catalog_client,
            external_id=sku,
            data={},
            source_seq=1,
            created_batch=1,
            target_pk=str(p.pk),
        )
    PendingDeletion.objects.create(
        client=catalog_client, keys=["A"], live_rows=2, reason="the listing came back empty", action="delete"
    )
    admin_login(page, "operator", PASSWORD)
    page.goto("/admin/syncers/syncclient/")
    assert page.locator("#deletions-waiting-badge").is_visible()
    page.goto(f"/admin/syncers/syncclient/{catalog_client.pk}/change/")
    assert "the listing came back empty" in page.locator("#deletions-waiting").inner_text()

    page.click("#approve-deletions-button")

    assert list(Product.objects.values_list("sku", flat=True)) == ["B"]
    assert "Approved 1 deletion: 1 row deleted" in page.locator(".messagelist .success").inner_text()
    assert not page.locator("#deletions-waiting").count()
