"""The SQL stores: the ROOMS side and roomsync's own sync state in one database.

SQLite (the embedded default) and PostgreSQL are supported; the schema is managed by the Alembic
migrations shipped in this package, so a database is always upgraded, never created ad hoc.
"""

from roomsync.storage.database import Database, SqlUnitOfWork

__all__ = ["Database", "SqlUnitOfWork"]
