"""The API's pages in a real browser: an operator creates a token in the admin and sees it
exactly once; the Swagger UI page at /api/docs/ renders every operation from this server's
own files (no CDN)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client
from playwright.sync_api import Page

from syncers.models import ApiToken

from .test_admin_browser import PASSWORD, admin_login, operator  # noqa: F401  (operator is a fixture)

pytest_plugins = ["tests.browser"]
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.usefixtures("operator")
def test_a_token_created_in_the_admin_is_shown_once_and_works(page: Page) -> None:
    admin_login(page, "operator", PASSWORD)
    page.goto("/admin/syncers/apitoken/add/")
    page.select_option("#id_user", label="operator")
    page.fill("#id_name", "deploy-script")
    page.click("input[name=_save]")

    raw = page.locator("#api-token").inner_text().strip()
    assert raw.startswith("xcs_") and "not shown again" in page.content()
    answer = Client().get("/api/clients/", headers={"Authorization": f"Bearer {raw}"})
    assert answer.status_code == 200, answer.content
    page.goto("/admin/syncers/apitoken/")
    assert ApiToken.objects.get().prefix in page.content() and raw not in page.content()


@pytest.mark.usefixtures("operator")
def test_the_swagger_page_lists_every_operation_from_local_files_only(page: Page, live_server) -> None:
    hosts = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    admin_login(page, "operator", PASSWORD)

    page.goto("/api/docs/")
    page.wait_for_selector(".opblock")

    paths = set(page.locator(".opblock-summary-path").all_inner_texts())
    assert {"/api/clients/{client}/run/", "/api/runs/{run}/", "/api/health/"} <= {p.strip() for p in paths}
    assert page.locator(".opblock").count() >= 14
    assert hosts == {urlsplit(live_server.url).netloc}, f"requests left the server: {hosts}"
