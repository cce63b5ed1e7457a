"""The WSGI entry point: ``flask --app wsgi ...`` and production servers load ``app`` from here."""

import sys

from config import ConfigError
from helpdesk import create_app

try:
    app = create_app()
except ConfigError as exc:
    print(f"configuration error: {exc}", file=sys.stderr)
    sys.exit(2)
