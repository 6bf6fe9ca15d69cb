"""WSGI entry point: ``app = create_app()``."""

from locator import create_app

app = create_app()
