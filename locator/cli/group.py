"""The ``locator`` command group every CLI module adds its commands to."""

from __future__ import annotations

from flask.cli import AppGroup

locator_cli = AppGroup("locator", help="Manage the facility store, accounts and partners.")
