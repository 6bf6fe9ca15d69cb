"""``flask --app app locator …``: the command-line interface, one module per area.

* :mod:`.data` — ``init-db``, ``load-demo``, ``import``, ``export``, ``index-snapshot``;
* :mod:`.accounts` — ``create-user``, ``create-token``, ``revoke-token``;
* :mod:`.partners` — ``partner add|rotate-key|revoke|list|snippet``;
* :mod:`.doors` — ``door-key add|list|revoke`` (door devices for live door status);
* :mod:`.planning` — ``coverage`` (the 双15 coverage planner).
"""

from __future__ import annotations

from flask import Flask

from locator.cli import accounts, data, doors, partners, planning
from locator.cli.group import locator_cli


def init_app(app: Flask) -> None:
    """Register the ``locator`` command group with every command."""
    commands = (
        *accounts.COMMANDS,
        *data.COMMANDS,
        partners.partner_cli,
        doors.door_key_cli,
        *planning.COMMANDS,
    )
    for command in commands:
        if command.name not in locator_cli.commands:
            locator_cli.add_command(command)
    app.cli.add_command(locator_cli)
