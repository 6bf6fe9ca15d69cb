"""Accounts: password and bearer-token authentication, account creation. No Flask here.

* Passwords are hashed with argon2id (:class:`argon2.PasswordHasher`, its default
  parameters); a hash made with older parameters is upgraded at the next login.
* A failed login says the same thing whether the user is unknown, inactive or the
  password is wrong, and costs the same time (an unknown user is checked against a
  dummy hash).
* Passwords must be 10-1024 characters and not easy to guess: zxcvbn (Dropbox's
  estimator, with its lists of common passwords, words, names and keyboard patterns,
  and the account's own name) must score them at least :data:`PASSWORD_MIN_SCORE` of 4
  ("safely unguessable": about 10^8 guesses or more). Refused: ``aaaaaaaaaa``,
  ``1234567890``, ``password123``, ``qwertyuiop``, a user name with a year after it.
* API tokens are 256-bit random secrets shown once; the store keeps only their SHA-256
  (a fast hash is right here: the secret is random, not a guessable password).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Collection, Iterable
from dataclasses import replace
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from locator.errors import ForbiddenError, Msg, NotFoundError, UnauthorizedError, ValidationError
from locator.stores.contract import ROLES, AccountStore, ApiToken, User

#: The one message for every failed login (unknown user, wrong password, inactive).
LOGIN_FAILED: Final = Msg("Unknown user name or wrong password.")

PASSWORD_MIN: Final = 10
PASSWORD_MAX: Final = 1024
#: Lowest zxcvbn score accepted (0-4; 3 = "safely unguessable", about 10^8 guesses).
PASSWORD_MIN_SCORE: Final = 3
#: Characters zxcvbn looks at (its matching is slow on very long inputs; longer is stronger).
_SCORED_CHARS: Final = 100
#: Words every password here is likely to be built from.
_SITE_WORDS: Final = ("locator", "warm", "station", "union", "beijing", "manager", "admin")
TOKEN_PREFIX: Final = "wsl_"  # noqa: S105 - a public marker, not a secret
_NAME_RE: Final = re.compile(r"^[\w.@-]{1,64}$")
_ADCODE_RE: Final = re.compile(r"^[0-9]{6}$")


def token_hash(token: str) -> str:
    """Lower-case hex SHA-256 of a token's text (what the store keeps)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def session_fingerprint(user: User) -> str:
    """A short digest of the password hash and the session epoch.

    A session remembers it at login; it stops matching when the password changes or the
    user's sessions are ended (:meth:`AccountService.end_sessions`: logout, deactivation,
    an admin's "end sessions"), so the old cookie no longer logs anyone in.
    """
    text = f"{user.password_hash}|{user.session_epoch}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def check_password(password: str, user_name: str = "") -> None:
    """Refuse a password that is too short, too long or easy to guess (see the module docstring).

    Parameters
    ----------
    password : str
    user_name : str
        The account's name: a password built from it is weaker.

    Raises
    ------
    ValidationError
        ``param="password"``, saying which rule the password breaks.
    """
    if not isinstance(password, str) or len(password) < PASSWORD_MIN:
        raise ValidationError(
            Msg("password must be at least %(n)s characters", n=PASSWORD_MIN), param="password"
        )
    if len(password) > PASSWORD_MAX:
        raise ValidationError(
            Msg("password must be at most %(n)s characters", n=PASSWORD_MAX), param="password"
        )
    inputs = [*_SITE_WORDS, *(w for w in re.split(r"[\W_]+", user_name) if w)]
    if zxcvbn(password[:_SCORED_CHARS], user_inputs=inputs)["score"] < PASSWORD_MIN_SCORE:
        raise ValidationError(
            Msg(
                "this password is too easy to guess (a common password, words, names, dates, "
                "keyboard patterns or repeats): use a longer phrase of unrelated words"
            ),
            param="password",
        )


class AccountService:
    """Create accounts and authenticate them.

    Parameters
    ----------
    store : AccountStore
    hasher : argon2.PasswordHasher, optional
        Default: argon2id with the library's default cost.
    """

    def __init__(self, store: AccountStore, hasher: PasswordHasher | None = None) -> None:
        self.store = store
        self.hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    @property
    def _dummy_hash(self) -> str:
        """A hash of a random password, checked for unknown users (made on first use)."""
        if self._dummy is None:
            self._dummy = self.hasher.hash(secrets.token_hex(16))
        return self._dummy

    # -- creating ----------------------------------------------------------------

    def create_user(
        self,
        name: str,
        password: str,
        role: str,
        *,
        districts: Iterable[str] = (),
        facilities: Iterable[str] = (),
        known_districts: Collection[str] | None = None,
        known_facilities: Collection[str] | None = None,
    ) -> User:
        """Validate and store a new account.

        Parameters
        ----------
        name : str
            1–64 letters, digits, ``.``, ``_``, ``@`` or ``-``.
        password : str
            Accepted by :func:`check_password`.
        role : str
            One of :data:`locator.stores.contract.ROLES`.
        districts : iterable of str
            Six-digit adcodes; required for (and only for) ``district_manager``.
        facilities : iterable of str
            Facility ids; required for (and only for) ``station_manager``.
        known_districts, known_facilities : collection of str, optional
            When given, every district/facility must be one of these.

        Raises
        ------
        ValidationError
            Naming the bad field.
        ConflictError
            If the name is taken.
        """
        name = (name or "").strip()
        if not _NAME_RE.match(name):
            raise ValidationError(
                Msg("user name must be 1-64 letters, digits, '.', '_', '@' or '-'"), param="name"
            )
        if role not in ROLES:
            raise ValidationError(
                Msg("role must be one of %(values)s", values=", ".join(ROLES)), param="role"
            )
        self._check_password(password, name)
        dset = frozenset(d.strip() for d in districts if d.strip())
        fset = frozenset(f.strip() for f in facilities if f.strip())
        bad = sorted(d for d in dset if not _ADCODE_RE.match(d))
        if bad or (known_districts is not None and not dset <= set(known_districts)):
            unknown = bad or sorted(dset - set(known_districts or ()))
            raise ValidationError(
                Msg("unknown district: %(values)s", values=", ".join(unknown)), param="district"
            )
        if known_facilities is not None and not fset <= set(known_facilities):
            unknown = sorted(fset - set(known_facilities))
            raise ValidationError(
                Msg("unknown facility: %(values)s", values=", ".join(unknown)), param="facility"
            )
        if role == "district_manager" and not dset:
            raise ValidationError(Msg("a district manager needs at least one --district"), param="district")
        if role == "station_manager" and not fset:
            raise ValidationError(Msg("a station manager needs at least one --facility"), param="facility")
        if role != "district_manager" and dset:
            raise ValidationError(Msg("only district managers have districts"), param="district")
        if role != "station_manager" and fset:
            raise ValidationError(Msg("only station managers have facilities"), param="facility")
        user = User(name, role, self.hasher.hash(password), districts=dset, facilities=fset)
        return self.store.add_user(user)

    def set_password(self, name: str, password: str) -> User:
        """Replace a user's password (every session of theirs ends).

        Raises
        ------
        NotFoundError, ValidationError
        """
        self._check_password(password, name)
        user = self.store.get_user(name)
        return self.store.update_user(replace(user, password_hash=self.hasher.hash(password)))

    def set_active(self, name: str, active: bool) -> User:
        """Deactivate (every session and token of theirs stops working at once) or reactivate.

        Deactivation also ends the user's sessions for good: reactivating does not bring
        an old cookie back.

        Raises
        ------
        NotFoundError
        """
        user = self.store.get_user(name)
        if user.active != active:
            user = self.store.update_user(replace(user, active=active))
        return user if active else self.store.end_sessions(name)

    def end_sessions(self, name: str) -> User:
        """End every session of ``name`` (logout, an admin's "end sessions"); tokens stay valid.

        Raises
        ------
        NotFoundError
        """
        return self.store.end_sessions(name)

    @staticmethod
    def _check_password(password: str, user_name: str = "") -> None:
        check_password(password, user_name)

    # -- self-service and administration (the /manage account pages) ----------------

    def list_users(self) -> list[User]:
        """Every account, by name."""
        return sorted(self.store.list_users(), key=lambda u: u.name)

    def change_own_password(self, user: User, current: str, new: str) -> User:
        """A user changes their own password, proving the current one.

        Every session of the user ends (the caller logs the current session in again
        with the returned account, so only the *other* sessions end).

        Raises
        ------
        ValidationError
            ``param="current_password"`` when the current password is wrong;
            ``param="password"`` when the new one is refused (:func:`check_password`)
            or is the current one.
        """
        try:
            self.authenticate(user.name, current)
        except UnauthorizedError:
            raise ValidationError(Msg("the current password is wrong"), param="current_password") from None
        if new == current:
            raise ValidationError(Msg("the new password is the current one"), param="password")
        return self.set_password(user.name, new)

    @staticmethod
    def _admin_on_other(admin: User, name: str) -> None:
        if admin.role != "admin":
            raise ForbiddenError(Msg("only administrators manage accounts"))
        if admin.name == name:
            raise ValidationError(Msg("use “My account” for your own account"), param="name")

    def reset_password(self, admin: User, name: str, new: str) -> User:
        """An administrator sets another user's password; every session of that user ends.

        Raises
        ------
        ForbiddenError
            Unless ``admin`` is an administrator.
        ValidationError
            For one's own account, or a refused password.
        NotFoundError
        """
        self._admin_on_other(admin, name)
        return self.set_password(name, new)

    def set_active_by(self, admin: User, name: str, active: bool) -> User:
        """An administrator deactivates or reactivates another user (:meth:`set_active`).

        Raises
        ------
        ForbiddenError, ValidationError, NotFoundError
        """
        self._admin_on_other(admin, name)
        return self.set_active(name, active)

    def end_sessions_by(self, admin: User, name: str) -> User:
        """An administrator ends every session of another user (tokens stay valid).

        Raises
        ------
        ForbiddenError, ValidationError, NotFoundError
        """
        self._admin_on_other(admin, name)
        return self.end_sessions(name)

    def create_token(self, user_name: str, label: str = "") -> tuple[ApiToken, str]:
        """Create a bearer token for ``user_name``.

        Returns
        -------
        (ApiToken, str)
            The stored record and the secret token text, which is never stored and
            cannot be shown again.

        Raises
        ------
        NotFoundError
            If there is no such user.
        """
        self.store.get_user(user_name)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = ApiToken(
            id="tok_" + secrets.token_hex(6),
            user_name=user_name,
            token_hash=token_hash(secret),
            label=label.strip()[:200],
        )
        return self.store.add_token(record), secret

    # -- authenticating ----------------------------------------------------------

    def authenticate(self, name: str, password: str) -> User:
        """Check a user name and password.

        Returns
        -------
        User
            The (active) account; its hash is upgraded if the hasher's cost changed.

        Raises
        ------
        UnauthorizedError
            With :data:`LOGIN_FAILED` for an unknown or inactive user or a wrong password.
        """
        name = (name or "").strip()
        password = password or ""
        try:
            user: User | None = self.store.get_user(name) if _NAME_RE.match(name) else None
        except NotFoundError:
            user = None
        if len(password) > PASSWORD_MAX:
            password = password[:PASSWORD_MAX]  # still verified (and fails): same cost, same answer
        try:
            self.hasher.verify(user.password_hash if user else self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            raise UnauthorizedError(LOGIN_FAILED) from None
        if user is None or not user.active:
            raise UnauthorizedError(LOGIN_FAILED)
        if self.hasher.check_needs_rehash(user.password_hash):
            user = self.store.update_user(replace(user, password_hash=self.hasher.hash(password)))
        return user

    def authenticate_token(self, token: str) -> User:
        """The active account a bearer token belongs to.

        Raises
        ------
        UnauthorizedError
            For an unknown or revoked token, or an inactive account.
        """
        token = (token or "").strip()
        record = self.store.find_token(token_hash(token)) if token.startswith(TOKEN_PREFIX) else None
        if record is None or record.revoked_at is not None:
            raise UnauthorizedError(Msg("invalid or revoked token"))
        try:
            user = self.store.get_user(record.user_name)
        except NotFoundError:
            raise UnauthorizedError(Msg("invalid or revoked token")) from None
        if not user.active:
            raise UnauthorizedError(Msg("invalid or revoked token"))
        return user

    def load_session_user(self, session_id: str) -> User | None:
        """The account behind a session id (``name|fingerprint``), or None if stale."""
        name, _, fingerprint = session_id.partition("|")
        try:
            user = self.store.get_user(name)
        except NotFoundError:
            return None
        if not user.active or not secrets.compare_digest(fingerprint, session_fingerprint(user)):
            return None
        return user
