"""The `notifications` section: who hears about what, for every client or for one.

    notifications:
      - {email: oncall@example.com, level: error}
      - {webhook_env: SLACK_WEBHOOK_URL, level: warning}     # URL with a token: by reference
      - {email: shop-team@example.com, client: products}      # level defaults to warning

When the section is present, the routes are exactly the listed ones."""

from __future__ import annotations

from typing import Any

from syncers.models import NotificationRoute, SyncClient

from .common import ConfigError, Plan, items, refuse_unknown, validated

TARGET_KEYS = {
    "email": ("email", "target"),
    "webhook": ("webhook", "target"),
    "webhook_env": ("webhook", "target_env"),
}


def apply_notifications(data: dict[str, Any], plan: Plan) -> None:
    if "notifications" not in data:
        return
    existing = list(NotificationRoute.objects.select_related("client"))
    for index, spec in enumerate(items(data, "notifications", identity="")):
        route = _route(spec, f"notifications[{index}]")
        twin = next((r for r in existing if _identity(r) == _identity(route)), None)
        if twin is None:
            route.save()
            plan.note(f"+ notification {route}")
            continue
        existing.remove(twin)
        if (twin.min_level, twin.enabled) != (route.min_level, route.enabled):
            twin.min_level, twin.enabled = route.min_level, route.enabled
            twin.save(update_fields=["min_level", "enabled"])
            plan.note(f"~ notification {twin}: level={twin.min_level} enabled={twin.enabled}")
    for leftover in existing:
        plan.note(f"- notification {leftover}")
        leftover.delete()


def _route(spec: dict[str, Any], where: str) -> NotificationRoute:
    refuse_unknown(spec, {*TARGET_KEYS, "level", "client", "enabled"}, where)
    given = [key for key in TARGET_KEYS if key in spec]
    if len(given) != 1:
        raise ConfigError(f"{where}: say where it goes with exactly one of email, webhook or webhook_env")
    channel, attribute = TARGET_KEYS[given[0]]
    route = NotificationRoute(channel=channel, min_level=str(spec.get("level", "warning")))
    setattr(route, attribute, str(spec[given[0]]))
    route.enabled = bool(spec.get("enabled", True))
    if "client" in spec:
        route.client = SyncClient.objects.filter(name=spec["client"]).first()
        if route.client is None:
            raise ConfigError(f"{where}: unknown client '{spec['client']}'")
    validated(route, where)
    return route


def _identity(route: NotificationRoute) -> tuple[Any, ...]:
    return (route.channel, route.target, route.target_env, route.client_id)


def export_notifications() -> list[dict[str, Any]]:
    out = []
    for route in NotificationRoute.objects.select_related("client").order_by("pk"):
        key = "email" if route.channel == "email" else "webhook" if route.target else "webhook_env"
        item: dict[str, Any] = {key: route.target or route.target_env, "level": route.min_level}
        if route.client:
            item["client"] = route.client.name
        if not route.enabled:
            item["enabled"] = False
        out.append(item)
    return out
