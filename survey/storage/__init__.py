"""Storage: the SQLite database through sqlite-utils, named migrations, and queries per concern."""

from .db import connect, database_path, instance_path, transaction

__all__ = ["connect", "database_path", "instance_path", "transaction"]
