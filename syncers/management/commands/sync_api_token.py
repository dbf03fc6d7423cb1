"""API tokens for the HTTP API: create one for a user (printed once, never stored), revoke,
list. A token acts as its user, with exactly that user's admin permissions and grants."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from syncers.api.tokens import api_token_create, api_token_revoke
from syncers.management.cli import parse_duration, record_action
from syncers.models import ApiToken


class Command(BaseCommand):
    help = (
        "create <user> --name NAME [--expires 30d]: print a new API token once (only its digest "
        "is kept); revoke <id or prefix>; list [--user USER]."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="{create,revoke,list}")
        create = verbs.add_parser("create", help="print a new token for a user, once")
        create.add_argument("user", help="the username the token acts as")
        create.add_argument("--name", required=True, help="what the token is for, e.g. ci-deploy")
        create.add_argument("--expires", help="refused after e.g. 30d, 12h (default: until revoked)")
        revoke = verbs.add_parser("revoke", help="refuse a token from now on")
        revoke.add_argument("token", help="the token's id or its prefix (xcs_…)")
        revoke.add_argument("--by", default="manage.py sync_api_token", help="who revokes (for the record)")
        listing = verbs.add_parser("list", help="every token: id, prefix, user, name, state, last used")
        listing.add_argument("--user", help="only this user's")

    def handle(self, *args: Any, verb: str, **options: Any) -> None:
        getattr(self, f"_{verb}")(**options)

    def _create(self, *, user: str, name: str, expires: str | None, **options: Any) -> None:
        users = get_user_model()
        owner = users.objects.filter(**{users.USERNAME_FIELD: user}).first()
        if owner is None:
            raise CommandError(f"unknown user '{user}'")
        until = timezone.now() + parse_duration(expires) if expires else None
        try:
            token, raw = api_token_create(user=owner, name=name, expires_at=until)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        record_action(
            token, f"Created API token {token.prefix}… '{token.name}'", by="manage.py sync_api_token"
        )
        self.stdout.write(raw)
        self.stderr.write(
            f"token #{token.pk} '{token.name}' for {user}: copy it now, it is not shown again"
            + (f" (expires {until:%Y-%m-%d %H:%M %Z})" if until else "")
        )

    def _revoke(self, *, token: str, by: str, **options: Any) -> None:
        qs = ApiToken.objects.select_related("user")
        found = (
            list(qs.filter(pk=int(token))) if token.isdigit() else list(qs.filter(prefix__startswith=token))
        )
        if len(found) != 1 or not token:
            many = f"{len(found)} tokens match" if found else "no token matches"
            raise CommandError(f"{many} '{token}': give its id (see sync_api_token list)")
        revoked = api_token_revoke(token=found[0], who=by)
        record_action(revoked, f"Revoked API token {revoked.prefix}… '{revoked.name}'", by=by)
        self.stdout.write(f"revoked token #{revoked.pk} {revoked.prefix}… '{revoked.name}' of {revoked.user}")

    def _list(self, *, user: str | None, **options: Any) -> None:
        qs = ApiToken.objects.select_related("user").order_by("pk")
        if user:
            qs = qs.filter(user__username=user)
        for t in qs:
            used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
            self.stdout.write(f"#{t.pk:<4} {t.prefix}…  {t.user}  {t.name!r}  {t.state}  last used {used}")
