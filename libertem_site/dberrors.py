"""One sentence, not a traceback, when a management command cannot reach its database.

The usual first-day failures (the role or the database of ``DATABASE_URL`` not created yet, a
wrong password, the server not running) each get the line that says what to do.
"""

from __future__ import annotations

import re

PREFIX = "Cannot connect to the database of DATABASE_URL: "
SEE = "(docs/deploy.md, 'The database')"
HINTS = [
    (
        re.compile(r'role "(?P<name>[^"]+)" does not exist'),
        "create the role: sudo -u postgres createuser --pwprompt {name}",
    ),
    (
        re.compile(r'database "(?P<name>[^"]+)" does not exist'),
        "create the database: sudo -u postgres createdb --owner=ROLE {name}"
        " (ROLE: the user in DATABASE_URL)",
    ),
    (
        re.compile(r"password authentication failed|no password supplied"),
        "check the user and password in DATABASE_URL",
    ),
    (
        re.compile(r"Connection refused|could not translate host name|timeout expired"),
        "is PostgreSQL running at the host and port of DATABASE_URL?",
    ),
]


def connection_failure(exc: Exception) -> str | None:
    """The line to print for a failed connection, or None if ``exc`` is something else."""
    text = " ".join(str(exc).split())
    if not text.startswith("connection failed") and "could not connect" not in text:
        return None
    if "FATAL:" in text:
        reason = text.split("FATAL:", 1)[-1].strip()
    else:  # "connection failed: connection to server at ... failed: Connection refused"
        reason = str(exc).strip().splitlines()[0].rsplit("failed: ", 1)[-1]
    for pattern, hint in HINTS:
        match = pattern.search(text)
        if match:
            hint = hint.format(**match.groupdict())
            return f"{PREFIX}{reason}; {hint} {SEE}."
    return f"{PREFIX}{reason} {SEE}."
