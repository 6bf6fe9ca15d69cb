"""The Flask side of the locator.

App state, parameters, problems, caching, keys, limits, security headers, languages and the
OpenAPI document; one blueprint per URL area in :mod:`.blueprints`.
"""
