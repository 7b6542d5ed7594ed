"""IMMU's store: SQLite through aiosqlite. Imports neither ``bot`` nor ``pipeline``."""

from storage.store import (
    Job,
    Post,
    PostView,
    Store,
    StoreError,
    TrackRow,
    User,
    backup,
    restore,
)

__all__ = [
    "Job",
    "Post",
    "PostView",
    "Store",
    "StoreError",
    "TrackRow",
    "User",
    "backup",
    "restore",
]
