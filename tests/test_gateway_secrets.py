"""Credentials at rest: encrypted with the environment's keys, rotated by `rotate_keys`,
refused without keys outside DEBUG; and save-time validation of connections."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection as db
from django.test import override_settings

from fakeapi.control import FakeApi
from gateway import crypto
from gateway.checks import check_encryption_keys
from gateway.errors import AuthError
from gateway.models import Connection

pytestmark = pytest.mark.django_db

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def stored_ciphertext(conn: Connection) -> str:
    with db.cursor() as cur:
        cur.execute("SELECT secret_ciphertext FROM gateway_connection WHERE id = %s", [conn.pk])
        return cur.fetchone()[0]


def make(name: str, secret: str) -> Connection:
    conn = Connection(name=name, base_url="http://127.0.0.1:9", auth_kind="bearer")
    conn.set_secret(secret)
    conn.save()
    return conn


def test_a_secret_is_stored_encrypted_and_only_revealed_on_request() -> None:
    conn = make("enc", "s3cret-value")
    raw = stored_ciphertext(conn)
    assert "s3cret-value" not in raw and raw.startswith("gAAAA")  # a Fernet token
    assert Connection.objects.get(pk=conn.pk).reveal_secret() == "s3cret-value"
    assert "s3cret-value" not in repr(conn) + str(conn)


def test_rotate_keys_reencrypts_every_row_under_the_first_key(capsys: pytest.CaptureFixture[str]) -> None:
    with override_settings(GATEWAY_ENCRYPTION_KEYS=[OLD]):
        a, b = make("rot-a", "alpha"), make("rot-b", "beta")
        make("rot-none", "").save()
    before = {c.pk: stored_ciphertext(c) for c in (a, b)}
    with override_settings(GATEWAY_ENCRYPTION_KEYS=[NEW, OLD]):
        call_command("rotate_keys")
    assert "re-encrypted 2 secrets in gateway.Connection.secret_ciphertext" in capsys.readouterr().out
    with override_settings(GATEWAY_ENCRYPTION_KEYS=[NEW]):  # the old key is gone now
        assert Connection.objects.get(pk=a.pk).reveal_secret() == "alpha"
        assert Connection.objects.get(pk=b.pk).reveal_secret() == "beta"
    assert all(stored_ciphertext(c) != before[c.pk] for c in (a, b))


def test_a_secret_under_a_dropped_key_is_an_auth_error_and_rotate_names_it() -> None:
    with override_settings(GATEWAY_ENCRYPTION_KEYS=[OLD]):
        make("orphan", "lost")
    with override_settings(GATEWAY_ENCRYPTION_KEYS=[NEW]):
        with pytest.raises(AuthError, match="cannot be decrypted"):
            Connection.objects.get(name="orphan").reveal_secret()
        with pytest.raises(CommandError, match="orphan"):
            call_command("rotate_keys")


def test_debug_runs_derive_a_development_key_from_the_secret_key() -> None:
    with override_settings(GATEWAY_ENCRYPTION_KEYS=[], GATEWAY_DERIVE_DEV_KEY=True, SECRET_KEY="one"):
        token = crypto.encrypt("x")
        assert crypto.decrypt(token) == "x"
    with (
        override_settings(GATEWAY_ENCRYPTION_KEYS=[], GATEWAY_DERIVE_DEV_KEY=True, SECRET_KEY="two"),
        pytest.raises(crypto.InvalidToken),
    ):
        crypto.decrypt(token)


def test_the_system_check_refuses_to_start_without_keys_outside_debug() -> None:
    assert check_encryption_keys() == []
    with override_settings(GATEWAY_ENCRYPTION_KEYS=[], GATEWAY_DERIVE_DEV_KEY=False):
        assert [e.id for e in check_encryption_keys()] == ["gateway.E001"]
    with override_settings(GATEWAY_ENCRYPTION_KEYS=[NEW, "not-a-key"]):
        assert [e.id for e in check_encryption_keys()] == ["gateway.E002"]


# --- Save-time validation ------------------------------------------------------------------
def errors_of(**fields: object) -> dict[str, list[str]]:
    conn = Connection(name="v", **{"base_url": "http://127.0.0.1:9", **fields})
    try:
        conn.full_clean()
    except ValidationError as exc:
        return exc.message_dict
    return {}


def test_a_plain_connection_to_the_allowed_fake_api_is_valid(api: FakeApi) -> None:
    assert errors_of(base_url=api.url) == {}


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254",
        "http://10.1.2.3/api",
        "http://[fd00::1]",
        "http://100.64.0.1",
        "http://[::ffff:10.0.0.1]",
    ],
)
def test_refused_addresses_are_rejected_when_saving(url: str) -> None:
    assert "network policy" in " ".join(errors_of(base_url=url)["base_url"])


@override_settings(GATEWAY_ALLOWED_HOSTS=[])
def test_loopback_is_rejected_when_saving_unless_settings_allow_it() -> None:
    assert "loopback" in " ".join(errors_of(base_url="http://localhost:8000")["base_url"])


def test_auth_fields_must_fit_the_auth_kind() -> None:
    errors = errors_of(auth_kind="oauth2_client_credentials", token_url="http://169.254.169.254/token")
    assert {"token_url", "auth_username", "secret"} <= set(errors)
    assert "auth_username" in errors_of(auth_kind="basic")
    assert "secret" in errors_of(auth_kind="bearer")


def test_credentials_are_refused_in_plain_fields() -> None:
    assert "headers" in errors_of(headers={"Authorization": "Bearer x"})
    errors = errors_of(auth_kind="api_key_query", default_params={"api_key": "x"})
    assert "default_params" in errors
    assert "base_url" in errors_of(base_url="http://user:pw@127.0.0.1:9")
    assert "allowed_hosts" in errors_of(allowed_hosts="ok.example.com, bad/host")
