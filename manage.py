#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xcoresite.settings")
    if sys.argv[1:2] != ["runserver"]:
        # A command prints its own result; the pipeline's INFO lines on stderr are noise there
        # (SYNC_LOG_LEVEL=INFO shows them). The web server, workers and beat keep INFO.
        os.environ.setdefault("SYNC_LOG_LEVEL", "WARNING")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
