#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "libertem_site.settings")
    from django.core.management import execute_from_command_line
    from django.db import OperationalError

    try:
        execute_from_command_line(sys.argv)
    except OperationalError as exc:
        from libertem_site.dberrors import connection_failure

        message = connection_failure(exc)
        if message is None:
            raise
        sys.exit(message)  # one line on stderr, exit status 1


if __name__ == "__main__":
    main()
