"""The core: domain, geodesy, hours, areas, the exact geodesic kNN index and the riders' rules.

Also place search and navigation links. No Flask, no database, no HTTP (checked by import-linter).
"""
