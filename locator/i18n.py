"""Languages: zh-CN by default, English by ``?lang=``, a cookie, or ``Accept-Language``."""

from __future__ import annotations

from flask import Flask, request
from flask_babel import Babel

LOCALES = ("zh", "en")
LANG_COOKIE = "lang"

babel = Babel()


def select_locale() -> str:
    """The request's locale: ``?lang=`` beats the ``lang`` cookie beats Accept-Language."""
    for value in (request.args.get("lang"), request.cookies.get(LANG_COOKIE)):
        if value:
            code = value.strip().lower().replace("_", "-").split("-")[0]
            if code in LOCALES:
                return code
    return request.accept_languages.best_match(LOCALES, default="zh") or "zh"


def init_app(app: Flask) -> None:
    """Install Flask-Babel with our locale selector; translations in locator/translations."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "zh")
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai")
    babel.init_app(app, locale_selector=select_locale)
