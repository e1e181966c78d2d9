"""Persistence of the domain with SQLAlchemy 2 (async): tables, engine and repositories."""
