"""A many-to-many field by natural key, end to end: fake API (real HTTP server) -> real Celery
worker -> catalog.Product.tags, links replaced set-based per batch for changed rows only."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from catalog.models import Category, Product, Tag
from fakeapi.control import FakeApi
from fakeapi.listings import CATALOG_PRODUCT_FIELDS, CATALOG_TAGS_FIELD, CATEGORIES, TAGS
from syncers.models import FailedRecord, SyncClient, SyncRun
from syncers.selectors import run_wait_final
from syncers.services import failed_records_retry, sync_run_now_here, sync_run_request

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("worker")]

Link = Product.tags.through


@pytest.fixture
def tagged_client(make_client):
    Category.objects.bulk_create(Category(**c) for c in CATEGORIES)
    Tag.objects.bulk_create(Tag(**t) for t in TAGS)
    return make_client(
        handler="rest",
        config={"path": "/catalog/products", "page_size": 100},
        batch_size=100,
        destination={
            "model": "catalog.Product",
            "key": ["sku"],
            "fields": {**CATALOG_PRODUCT_FIELDS, **CATALOG_TAGS_FIELD},
        },
    )


def run_now(client) -> SyncRun:
    run = sync_run_request(client=client, trigger=SyncRun.Trigger.ADMIN, who="tester")
    return run_wait_final(run_id=run.pk, timeout=90)


def links() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for sku, slug in Link.objects.values_list("product__sku", "tag__slug"):
        found.setdefault(sku, set()).add(slug)
    return found


def served_links(api: FakeApi) -> dict[str, set[str]]:
    return {r["sku"]: set(r["tags"]) for r in api.records()}


def link_rows() -> set[tuple[int, int, int]]:
    return set(Link.objects.values_list("pk", "product_id", "tag_id"))


def test_a_sync_links_exactly_the_tags_and_a_change_replaces_exactly_that_products_links(
    api: FakeApi, tagged_client
) -> None:
    run = run_now(tagged_client)

    assert run.status == SyncRun.Status.SUCCEEDED, (
        run.error,
        list(FailedRecord.objects.values_list("reason", flat=True)[:3]),
    )
    assert (run.created, run.failed) == (250, 0)
    assert links() == served_links(api)
    assert Link.objects.count() == sum(len(tags) for tags in served_links(api).values())
    before = link_rows()
    kept_slug = sorted(links()["SKU-0000060"])[0]
    new_slug = next(t["slug"] for t in TAGS if t["slug"] not in links()["SKU-0000060"])

    # 60 keeps one tag, gains one, loses the others (a duplicate slug counts once); 7 loses all.
    api.update([60], fields={"tags": [kept_slug, new_slug, new_slug]})
    api.update([7], fields={"tags": []})
    changed = run_now(tagged_client)

    assert (changed.created, changed.updated, changed.unchanged) == (0, 2, 248)
    expected = {**served_links(api), "SKU-0000060": {kept_slug, new_slug}}
    del expected["SKU-0000007"]
    assert links() == expected
    sku_pks = set(Product.objects.filter(sku__in=["SKU-0000060", "SKU-0000007"]).values_list("pk", flat=True))
    kept = {row for row in before if row[1] not in sku_pks}
    after = link_rows()
    # Every other product's link rows are the very same rows; 60's surviving link too.
    assert {row for row in after if row[1] not in sku_pks} == kept
    sixty, kept_tag = Product.objects.get(sku="SKU-0000060").pk, Tag.objects.get(slug=kept_slug).pk
    assert len({row for row in before if row[1:] == (sixty, kept_tag)} & after) == 1


def test_an_unchanged_resync_writes_no_link_rows(api: FakeApi, tagged_client) -> None:
    run_now(tagged_client)
    # Local edits a link rewrite would undo: one link removed, one added.
    sixty = Product.objects.get(sku="SKU-0000060")
    sixty.tags.remove(Tag.objects.get(slug="eco"))
    one = Product.objects.get(sku="SKU-0000001")
    one.tags.add(Tag.objects.get(slug="gift"))
    before = link_rows()

    second = run_now(tagged_client)

    assert (second.created, second.updated, second.unchanged, second.failed) == (0, 0, 250, 0)
    assert link_rows() == before


def test_an_unknown_tag_or_a_non_list_is_a_failed_record_and_retry_loads_it(
    api: FakeApi, tagged_client
) -> None:
    records = {r["id"]: r for r in api.records()}
    api.replace(3, {**records[4], "tags": ["eco", "clearance"]})
    api.replace(4, {**records[5], "tags": "eco"})

    run = run_now(tagged_client)

    assert run.status == SyncRun.Status.PARTIAL
    assert (run.created, run.failed) == (248, 2)
    reasons = dict(FailedRecord.objects.filter(client=tagged_client).values_list("external_id", "reason"))
    assert reasons == {
        "SKU-0000004": "tags: tag 'clearance' not found",
        "SKU-0000005": "tags: 'tags' holds \"eco\", not a list of slug values",
    }
    assert not Product.objects.filter(sku="SKU-0000004").exists()

    Tag.objects.create(slug="clearance", name="Clearance")
    retry = failed_records_retry(client=tagged_client, who="tester")
    rerun = run_wait_final(run_id=retry.run.pk, timeout=60)

    assert (rerun.created, rerun.failed) == (1, 1)
    assert links()["SKU-0000004"] == {"eco", "clearance"}


def test_the_demo_seeds_tag_and_category_clients_whose_products_arrive_tagged(
    api: FakeApi, settings, tmp_path
) -> None:
    settings.VAR_DIR = tmp_path  # the seeded admin login is written there
    call_command("sync_seed_demo", api_url=api.url, stdout=StringIO())
    for name in ("demo-categories", "demo-tags", "demo-catalog"):
        run = sync_run_now_here(client=SyncClient.objects.get(name=name), who="tester")
        assert run.status == SyncRun.Status.SUCCEEDED, (name, run.error)

    assert sorted(Tag.objects.values_list("slug", flat=True)) == sorted(t["slug"] for t in TAGS)
    assert Product.objects.count() == 250
    assert links() == served_links(api)
