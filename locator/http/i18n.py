"""Languages: zh-CN by default, English by ``?lang=``, a cookie, or ``Accept-Language``.

Messages in code are msgids for ``_``/``gettext``/``_l``/``lazy_gettext`` and, for
error details, :class:`locator.errors.Msg` (English on the API, translated on pages by
the ``tr`` filter). Extract with every keyword::

    pybabel extract -F babel.cfg -k _l -k lazy_gettext -k Msg -o locator/translations/messages.pot .
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import flask_babel
from babel.support import NullTranslations
from flask import Flask, Response, has_request_context, request
from flask_babel import Babel, get_locale

from locator.errors import Msg, Term

LOCALES = ("zh", "en")
LANG_COOKIE = "lang"

babel = Babel()


def translated(value: Any) -> Any:
    """A :class:`~locator.errors.Msg` in the request's language; anything else unchanged.

    Outside a request (CLI, logs) a ``Msg`` stays English. Placeholder values that are
    themselves ``Msg`` (e.g. a label) are translated too; a :class:`~locator.errors.Term`
    (a domain label) gives its own Chinese or English. This is the ``tr`` filter.
    """
    if not isinstance(value, Msg):
        return value
    if not has_request_context():
        return str(value)
    if isinstance(value, Term):  # a domain label: its own two languages, not the catalogue
        return value.zh if locale().startswith("zh") else value.en
    if not value.values:
        return str(gettext(value.template))
    return str(gettext(value.template, **{k: translated(v) for k, v in value.values.items()}))


_per_thread = threading.local()


def translations() -> NullTranslations:
    """The current request's gettext catalogue, looked up once per request.

    Flask-Babel resolves the context, domain, locale and catalogue on every ``gettext``
    call (~20 µs each; a ``/nearest`` page makes ~240 of them). The catalogue is fixed
    for a request (the locale is selected once), so it is kept per thread beside a weak
    reference to the request it belongs to; a new request looks it up again. Outside a request
    this is Flask-Babel's own answer (English msgids).
    """
    if not has_request_context():
        return flask_babel.get_translations()
    req = request._get_current_object()  # type: ignore[attr-defined]
    cache = _per_thread.__dict__
    owner = cache.get("request")
    if owner is None or owner() is not req:
        cache["translations"] = flask_babel.get_translations()
        cache["request"] = weakref.ref(req)  # a finished request is not kept alive by this
    found: NullTranslations = cache["translations"]
    return found


def gettext(string: str, **variables: Any) -> str:
    """Flask-Babel's ``gettext`` (``%(name)s`` placeholders) over :func:`translations`."""
    text = translations().ugettext(string)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    """Flask-Babel's ``ngettext`` (``%(num)d`` is ``num``) over :func:`translations`."""
    variables.setdefault("num", num)
    return translations().ungettext(singular, plural, num) % variables


def locale() -> str:
    """The current request's locale code (``zh`` or ``en``)."""
    return str(get_locale() or "zh")


def select_locale() -> str:
    """The request's locale: ``?lang=`` beats the ``lang`` cookie beats Accept-Language."""
    for value in (request.args.get("lang"), request.cookies.get(LANG_COOKIE)):
        if value:
            code = value.strip().lower().replace("_", "-").split("-")[0]
            if code in LOCALES:
                return code
    return request.accept_languages.best_match(LOCALES, default="zh") or "zh"


def remember_choice(response: Response) -> Response:
    """Keep a language picked with the switch (``?lang=`` on a page) in the ``lang`` cookie.

    One year, ``SameSite=Lax``; API calls never set it.
    """
    value = (request.args.get("lang") or "").strip().lower()
    if value not in LOCALES or request.path.startswith("/api/"):
        return response
    if request.cookies.get(LANG_COOKIE) != value:
        response.set_cookie(LANG_COOKIE, value, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response


def init_app(app: Flask) -> None:
    """Install Flask-Babel with our locale selector; translations in locator/translations."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "zh")
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai")
    babel.init_app(app, locale_selector=select_locale)
    # Templates call gettext through the catalogue kept per request (see translations()).
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: translations().ugettext(s),
        ngettext=lambda s, p, n: translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: translations().unpgettext(c, s, p, n),
    )
    # Error details raised as Msg are shown in the page's language ({{ exc.detail|tr }}).
    app.add_template_filter(translated, "tr")
    app.add_template_test(lambda value: isinstance(value, Msg), "translatable")
