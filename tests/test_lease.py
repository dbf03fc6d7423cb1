"""Lease semantics, on the database backend always and on Redis when REDIS_URL is set."""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from syncers.pipeline.lease import DatabaseLeases, Heartbeat, RedisLeases, leases, new_token


def backends() -> list:
    params = [pytest.param("db", id="database")]
    if settings.REDIS_URL:
        params.append(pytest.param("redis", id="redis"))
    return params


@pytest.fixture(params=backends())
def backend(request: pytest.FixtureRequest):
    if request.param == "redis":
        return RedisLeases(settings.REDIS_URL, prefix=f"xcoresite:test-lease:{new_token()}:")
    return DatabaseLeases()


@pytest.mark.django_db(transaction=True)
def test_only_one_owner_at_a_time_and_only_the_owner_renews_or_releases(backend) -> None:
    alice, bob = new_token(), new_token()

    assert backend.acquire("job", alice, ttl=5)
    assert not backend.acquire("job", bob, ttl=5)
    assert backend.holder("job") == alice
    assert not backend.renew("job", bob, ttl=5)
    assert not backend.release("job", bob)
    assert backend.holder("job") == alice
    assert backend.renew("job", alice, ttl=5)
    assert backend.release("job", alice)
    assert backend.holder("job") is None
    assert backend.acquire("job", bob, ttl=5)


@pytest.mark.django_db(transaction=True)
def test_an_expired_lease_can_be_taken_over_and_the_old_owner_cannot_renew(backend) -> None:
    old, new = new_token(), new_token()
    assert backend.acquire("job", old, ttl=0.3)
    time.sleep(0.5)

    assert backend.acquire("job", new, ttl=5)
    assert not backend.renew("job", old, ttl=5)
    assert not backend.release("job", old)
    assert backend.holder("job") == new


@pytest.mark.django_db(transaction=True)
def test_heartbeat_keeps_a_lease_past_its_ttl_and_notices_a_takeover() -> None:
    token = new_token()
    assert leases().acquire("beat", token, ttl=0.6)
    with Heartbeat("beat", token, ttl=0.6) as heartbeat:
        time.sleep(1.5)
        assert leases().holder("beat") == token and not heartbeat.lost
        leases().release("beat", token)
        assert leases().acquire("beat", new_token(), ttl=5)  # someone else now
        time.sleep(0.5)
        assert heartbeat.lost
