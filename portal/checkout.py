"""How ``manage.py`` finds its settings where no variable is set.

A checkout where ``make demo`` ran keeps the demo's data folder (``var/``,
or ``PORTAL_DATA_DIR``) with the random key the demo made there: a command
run in that checkout with nothing set uses the demo's settings (DEBUG on),
as ``make demo`` did. A deployment sets its variables and is left alone.

Commands that check a signed file (``verify_receipt``) work offline: they
never start the embedded database and need no secret key.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
#: Variables any of which means "configured": the demo's defaults stay off.
CONFIGURED_BY = ("DEBUG", "SECRET_KEY", "SECRET_KEY_FILE", "DATABASE_URL", "DATABASE_URL_FILE")
#: The file the demo (DEBUG on) writes into its data folder.
DEMO_MARKER = "secret_key"
OFFLINE_COMMANDS = {"verify_receipt"}


def data_dir(environ) -> Path:
    return Path(environ.get("PORTAL_DATA_DIR") or BASE_DIR / "var")


def prepare(argv: list[str], environ=os.environ) -> None:
    """Set the defaults a command in this checkout runs with."""
    command = argv[1] if len(argv) > 1 else ""
    if command in OFFLINE_COMMANDS:
        environ.setdefault("PORTAL_OFFLINE_COMMAND", "1")
    if not any(environ.get(name) for name in CONFIGURED_BY) and \
            (data_dir(environ) / DEMO_MARKER).is_file():
        environ["DEBUG"] = "1"
