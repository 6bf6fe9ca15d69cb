"""Error classes that carry their HTTP status and a public message.

Services raise these; :mod:`locator.http.problems` renders them once, as RFC 9457
``application/problem+json`` on the API and as a friendly page in the UI. The
``detail`` is safe to show to users; anything internal goes to the log only.
"""

from __future__ import annotations

from typing import Any


class Msg(str):
    """An English message that remembers its template and values, for translation.

    A ``Msg`` *is* the English text (a :class:`str`), so problem documents, logs and
    string comparisons are unchanged: the JSON API keeps English details. HTML pages
    call :func:`locator.http.i18n.translated` (the ``tr`` template filter) to show it in the request's
    language. ``pybabel extract -k Msg`` puts the templates in the catalogue.

    Parameters
    ----------
    template : str
        The English msgid, with ``%(name)s`` placeholders when ``values`` are given.
    **values
        The placeholder values. A value that is itself a ``Msg`` (e.g. a label) is
        translated too.

    Examples
    --------
    >>> m = Msg("%(name)s must be a number", name="lon")
    >>> m == "lon must be a number", m.template, m.values
    (True, '%(name)s must be a number', {'name': 'lon'})
    """

    template: str
    values: dict[str, Any]

    def __new__(cls, template: str, **values: Any) -> Msg:  # noqa: D102 (see the class)
        self = super().__new__(cls, template % values if values else template)
        self.template, self.values = template, values
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_msg, (self.template, self.values))


def _rebuild_msg(template: str, values: dict[str, Any]) -> Msg:
    return Msg(template, **values)


class Term(Msg):
    """A word that carries its own Chinese and English (a domain label), for use inside a :class:`Msg`.

    Domain labels (kinds, statuses, amenities…) are :class:`locator.core.domain.Label`
    pairs, not catalogue entries. A ``Term`` *is* the English (like a ``Msg``), so a
    message that holds one reads in English on the API and in logs; on pages the ``tr``
    filter picks the language of the request (:func:`locator.http.i18n.translated`).

    >>> t = Term("暂停开放", "Temporarily closed")
    >>> str(Msg("status changed to %(s)s", s=t)), t.zh
    ('status changed to Temporarily closed', '暂停开放')
    """

    zh: str
    en: str

    def __new__(cls, zh: str, en: str) -> Term:  # noqa: D102 (see the class)
        self = str.__new__(cls, en)
        self.template, self.values = en, {}
        self.zh, self.en = zh, en
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (Term, (self.zh, self.en))


class LocatorError(Exception):
    """Base error: an HTTP status, a stable machine code and a public message.

    Parameters
    ----------
    detail : str
        Human-readable explanation, safe to show to the client.
    param : str, optional
        The request parameter or field at fault, echoed in the problem document.
    extra : dict, optional
        More members for the problem document (JSON-serialisable).
    """

    status = 500
    code = "internal-error"
    title = "Internal error"
    #: Extra response headers (e.g. ``WWW-Authenticate``, the current ``ETag``).
    headers: dict[str, str] = {}  # replaced per instance, never mutated

    def __init__(self, detail: str, *, param: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.param = param
        self.extra = extra


class ValidationError(LocatorError):
    """A value failed validation (400)."""

    status = 400
    code = "invalid-parameter"
    title = "Invalid parameter"


class NotFoundError(LocatorError):
    """The named resource does not exist (404)."""

    status = 404
    code = "not-found"
    title = "Not found"


class ForbiddenError(LocatorError):
    """The caller may not do this (403)."""

    status = 403
    code = "forbidden"
    title = "Forbidden"


class ConflictError(LocatorError):
    """The request conflicts with the stored state, e.g. a duplicate id (409)."""

    status = 409
    code = "conflict"
    title = "Conflict"


class VersionConflictError(LocatorError):
    """An update was based on a stale version (412 Precondition Failed).

    ``current_version`` is the version now stored.
    """

    status = 412
    code = "version-conflict"
    title = "Precondition failed"

    def __init__(self, detail: str, *, current_version: int, **extra: Any) -> None:
        super().__init__(detail, current_version=current_version, **extra)
        self.current_version = current_version


class ImportRejectedError(LocatorError):
    """A bulk import had invalid rows; nothing was stored (422).

    ``row_errors`` is a list of ``(row_number, field, reason)``; rows count from 1.
    ``unlisted`` counts the bad rows found after the listed ones (an import lists at
    most its first :data:`locator.services.facilities.MAX_LISTED_ERRORS`); the
    problem document carries it as ``unlisted_errors``.
    """

    status = 422
    code = "import-rejected"
    title = "Import rejected"

    def __init__(self, row_errors: list[tuple[int, str, str]], *, unlisted: int = 0) -> None:
        total = len(row_errors) + unlisted
        detail = (
            Msg(
                "%(n)s invalid row(s); nothing was imported; the first %(listed)s are listed",
                n=total,
                listed=len(row_errors),
            )
            if unlisted
            else Msg("%(n)s invalid row(s); nothing was imported", n=total)
        )
        extra: dict[str, Any] = {"errors": [{"row": r, "field": f, "reason": m} for r, f, m in row_errors]}
        if unlisted:
            extra["unlisted_errors"] = unlisted
        super().__init__(detail, **extra)
        self.row_errors = row_errors
        self.unlisted = unlisted


class StoreUnavailableError(LocatorError):
    """The database cannot be reached, or did not answer in time (503, with ``Retry-After``).

    Parameters
    ----------
    detail : str
        As for :class:`LocatorError`.
    retry_after_s : int
        Seconds the client should wait before trying again (the ``Retry-After`` header).
    """

    status = 503
    code = "store-unavailable"
    title = "Service unavailable"
    #: Default ``Retry-After``, seconds.
    RETRY_AFTER_S = 5

    def __init__(
        self, detail: str, *, param: str | None = None, retry_after_s: int | None = None, **extra: Any
    ) -> None:
        super().__init__(detail, param=param, **extra)
        self.retry_after_s = self.RETRY_AFTER_S if retry_after_s is None else max(1, int(retry_after_s))
        self.headers = {"Retry-After": str(self.retry_after_s)}


class StoreBusyError(StoreUnavailableError):
    """The database is up but another write holds it longer than a writer waits (503).

    SQLite's ``database is locked`` after the busy timeout, PostgreSQL's lock wait
    cancelled by ``statement_timeout``: for example a write sent while an import commits.
    Nothing was written; the same request may be sent again after ``Retry-After``.
    """

    code = "store-busy"
    RETRY_AFTER_S = 2


class UnauthorizedError(LocatorError):
    """No valid credentials were sent (401); the API answers with ``WWW-Authenticate``."""

    status = 401
    code = "unauthorized"
    title = "Unauthorized"
    headers = {"WWW-Authenticate": 'Bearer realm="locator"'}


class PreconditionRequiredError(LocatorError):
    """A write that must be conditional came without ``If-Match`` (428)."""

    status = 428
    code = "precondition-required"
    title = "Precondition required"


class TooManyRequestsError(LocatorError):
    """The client asked too often (429); ``Retry-After`` says when to try again.

    Parameters
    ----------
    detail : str
    retry_after_s : int
        Whole seconds until the request would be accepted (at least 1).
    """

    status = 429
    code = "too-many-requests"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after_s: int, param: str | None = None, **extra: Any) -> None:
        super().__init__(detail, param=param, **extra)
        self.retry_after_s = max(1, int(retry_after_s))
        self.headers = {"Retry-After": str(self.retry_after_s)}
