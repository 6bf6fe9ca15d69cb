"""WSGI entry point: ``app = create_app()``.

A configuration error or an unreachable database stops start-up with a one-line
message on stderr and exit status 3 (gunicorn's "worker failed to boot", so the
gunicorn master stops instead of respawning workers; ``flask --app app …`` exits 3 too).
"""

import sys

from locator import ConfigError, create_app
from locator.errors import StoreUnavailableError

try:
    app = create_app()
except (ConfigError, StoreUnavailableError) as exc:
    print(f"locator: cannot start: {exc}", file=sys.stderr)
    raise SystemExit(3) from None
