"""``flask --app app locator create-user|create-token|revoke-token``: management accounts."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from locator.errors import LocatorError
from locator.services.accounts import AccountService
from locator.services.facilities import LocatorService
from locator.stores.contract import ROLES, ListFilter


def _accounts() -> AccountService:
    svc: AccountService | None = current_app.extensions.get("locator.accounts")
    if svc is None:
        click.echo("Error: this store does not support management accounts.", err=True)
        sys.exit(1)
    return svc


@click.command("create-user")
@with_appcontext
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the account may manage.")
@click.option(
    "--district",
    "districts",
    multiple=True,
    metavar="ADCODE",
    help="District adcode a district_manager manages (repeatable), e.g. 110108 for 海淀区.",
)
@click.option(
    "--facility",
    "facilities",
    multiple=True,
    metavar="ID",
    help="Facility id a station_manager manages (repeatable).",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (else prompt for it).",
)
def create_user(
    name: str, role: str, districts: tuple[str, ...], facilities: tuple[str, ...], password_stdin: bool
) -> None:
    """Create a management account NAME."""
    password = _read_password(password_stdin)
    svc: LocatorService = current_app.extensions["locator"]
    svc.store.init_schema()
    wanted = frozenset(facilities)
    existing = {f.id for f in svc.store.list(ListFilter(ids=wanted))} if wanted else set()
    try:
        user = _accounts().create_user(
            name,
            password,
            role,
            districts=districts,
            facilities=facilities,
            known_districts={a.code for a in svc.districts.areas},
            known_facilities=existing,
        )
    except LocatorError as exc:
        click.echo(f"Error: {exc.detail}", err=True)
        sys.exit(1)
    scope = ""
    if user.districts:
        names = [a.name for a in svc.districts.areas if a.code in user.districts]
        scope = " for " + ", ".join(sorted(user.districts)) + f" ({', '.join(names)})"
    if user.facilities:
        scope = f" for {len(user.facilities)} facilit{'y' if len(user.facilities) == 1 else 'ies'}"
    click.echo(f"Created {user.role} {user.name}{scope}.")


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@click.command("passwd")
@with_appcontext
@click.argument("name")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the new password from the first line of standard input (else prompt for it).",
)
def passwd(name: str, password_stdin: bool) -> None:
    """Set a new password for NAME; every session of NAME ends."""
    password = _read_password(password_stdin)
    try:
        _accounts().set_password(name, password)
    except LocatorError as exc:
        click.echo(f"Error: {exc.detail}", err=True)
        sys.exit(1)
    click.echo(f"Password of {name} changed; their sessions have ended.")


@click.command("deactivate-user")
@with_appcontext
@click.argument("name")
def deactivate_user(name: str) -> None:
    """Deactivate NAME: they cannot log in, and their sessions and tokens stop working at once."""
    try:
        _accounts().set_active(name, False)
    except LocatorError as exc:
        click.echo(f"Error: {exc.detail}", err=True)
        sys.exit(1)
    click.echo(f"Deactivated {name}.")


@click.command("activate-user")
@with_appcontext
@click.argument("name")
def activate_user(name: str) -> None:
    """Reactivate NAME (they log in again; old sessions stay ended)."""
    try:
        _accounts().set_active(name, True)
    except LocatorError as exc:
        click.echo(f"Error: {exc.detail}", err=True)
        sys.exit(1)
    click.echo(f"Activated {name}.")


@click.command("end-sessions")
@with_appcontext
@click.argument("name")
def end_sessions(name: str) -> None:
    """End every session of NAME (their bearer tokens stay valid: revoke-token ends those)."""
    try:
        _accounts().end_sessions(name)
    except LocatorError as exc:
        click.echo(f"Error: {exc.detail}", err=True)
        sys.exit(1)
    click.echo(f"Ended every session of {name}.")


@click.command("create-token")
@with_appcontext
@click.argument("name")
@click.option("--label", default="", help="What the token is for (shown in listings).")
def create_token(name: str, label: str) -> None:
    """Create a bearer token acting as user NAME; it is printed once and only its hash is kept."""
    try:
        record, secret = _accounts().create_token(name, label)
    except LocatorError as exc:
        click.echo(f"Error: {exc.detail}", err=True)
        sys.exit(1)
    click.echo(f"Token {record.id} for {record.user_name} (shown once, store it safely):", err=True)
    click.echo(secret)


@click.command("revoke-token")
@with_appcontext
@click.argument("token_id")
def revoke_token(token_id: str) -> None:
    """Revoke the token TOKEN_ID (``tok_…``)."""
    try:
        _accounts().store.revoke_token(token_id)
    except LocatorError as exc:
        click.echo(f"Error: {exc.detail}", err=True)
        sys.exit(1)
    click.echo(f"Revoked {token_id}.")


#: The commands of this module, for :func:`locator.cli.init_app`.
COMMANDS = (create_user, passwd, deactivate_user, activate_user, end_sessions, create_token, revoke_token)
