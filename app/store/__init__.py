"""The SQLite database: the record of everything the user owns. See `database.Store`."""

from app.store.database import Store, open_store

__all__ = ["Store", "open_store"]
