"""Who may take which operator action on which sync client.

An action is allowed by the model-wide permission (for every client) or by a ClientGrant on
that client for the user or one of their groups. Seeing a client follows the same rule: the
model-wide view/change permission shows every client, a grant shows that one client.

The user's grants are read once per request (cached on the user object), so pages that check
many clients cost one query, however many clients they show.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model, Q

from syncers.models import ClientGrant, SyncClient
from syncers.models.grants import ACTIONS

MODEL_PERMISSIONS = {
    "run": "syncers.run_syncclient",
    "pause": "syncers.pause_syncclient",
    "cancel": "syncers.cancel_syncclient",
    "retry": "syncers.retry_syncclient",
    "edit": "syncers.change_syncclient",
}
_CACHE_ATTR = "_syncers_client_grants"


def user_grants(user: Any) -> dict[int, frozenset[str]]:
    """Client id → actions granted to the user directly or through a group."""
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    grants: dict[int, set[str]] = {}
    if user.is_authenticated and user.is_active:
        flags = [f"can_{action}" for action in ACTIONS]
        rows = ClientGrant.objects.filter(Q(user=user) | Q(group__user=user)).values_list("client_id", *flags)
        for client_id, *allowed in rows:
            grants.setdefault(client_id, set()).update(
                a for a, ok in zip(ACTIONS, allowed, strict=True) if ok
            )
    result = {client_id: frozenset(actions) for client_id, actions in grants.items()}
    setattr(user, _CACHE_ATTR, result)
    return result


def forget_grants(user: Any) -> None:
    """Drop the per-request cache (after grants changed within one request or test)."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def user_can(user: Any, action: str, client: SyncClient | int | None = None) -> bool:
    """May the user take `action` on `client`? Without a client: on at least one client."""
    if action not in MODEL_PERMISSIONS:
        raise ValueError(f"unknown operator action {action!r}; one of {', '.join(ACTIONS)}")
    if user.has_perm(MODEL_PERMISSIONS[action]):
        return True
    grants = user_grants(user)
    if client is None:
        return any(action in actions for actions in grants.values())
    client_id = client if isinstance(client, int) else client.pk
    return action in grants.get(client_id, frozenset())


def allowed_actions(user: Any, client: SyncClient) -> frozenset[str]:
    return frozenset(action for action in ACTIONS if user_can(user, action, client))


def sees_all_clients(user: Any) -> bool:
    return user.has_perm("syncers.view_syncclient") or user.has_perm("syncers.change_syncclient")


def visible_client_ids(user: Any) -> set[int] | None:
    """None: every client; otherwise only these (the clients the user holds a grant on)."""
    if sees_all_clients(user):
        return None
    return set(user_grants(user))


def may_see_client(user: Any, client: SyncClient | int | None = None) -> bool:
    """Without a client: may the user see any client at all?"""
    visible = visible_client_ids(user)
    if visible is None:
        return True
    if client is None:
        return bool(visible)
    return (client if isinstance(client, int) else client.pk) in visible


def sees_all_rows(user: Any, model: type[Model]) -> bool:
    """The model's own view (or change) permission: every run, failed record... of every client."""
    opts = model._meta
    return user.has_perm(f"{opts.app_label}.view_{opts.model_name}") or user.has_perm(
        f"{opts.app_label}.change_{opts.model_name}"
    )


def may_see_rows(user: Any, model: type[Model], client_id: int | None = None) -> bool:
    """A client's runs, failed records...: with the model's view permission, or a grant on
    that client. Without a client: any of them at all."""
    if sees_all_rows(user, model):
        return True
    grants = user_grants(user)
    return bool(grants) if client_id is None else client_id in grants


def usable_connection_ids(user: Any) -> set[int] | None:
    """Connections the user may point a client at. None: every one (model-wide change
    permission); otherwise only those already used by clients the user may edit, so an edit
    grant on one client cannot borrow another API's credentials."""
    if user.has_perm(MODEL_PERMISSIONS["edit"]):
        return None
    editable = [client_id for client_id, actions in user_grants(user).items() if "edit" in actions]
    return set(SyncClient.objects.filter(pk__in=editable).values_list("connection_id", flat=True))
