"""Use cases over one store and the in-memory index.

Facilities, management, feedback, accounts, partners, publishing. No Flask.
"""
