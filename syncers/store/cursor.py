"""A cursor that sends parameters separately, for the statements that carry whole staged
payloads (staging, chunking, merging, the unchanged check, a model destination's writes)."""

from __future__ import annotations

import psycopg
from django.db import connection


def server_cursor() -> psycopg.Cursor:
    """A cursor that sends parameters separately: Django's default client-side binding would
    quote and splice every staged payload into the SQL text, which dominated the profile.
    Use with `connection.wrap_database_errors` so errors arrive as django.db exceptions."""
    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)
