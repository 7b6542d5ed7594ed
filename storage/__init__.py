"""IMMU's store: SQLite through aiosqlite. Imports neither ``bot`` nor ``pipeline``."""

from storage.backup import backup, restore
from storage.rows import (
    ACTIVE,
    FINISHED,
    HELD,
    UNFINISHED,
    Job,
    JobStatus,
    Post,
    PostStatus,
    PostView,
    ReportSummary,
    StoredBrief,
    TrackRow,
    User,
)
from storage.store import Store, StoreError

__all__ = [
    "ACTIVE",
    "FINISHED",
    "HELD",
    "UNFINISHED",
    "Job",
    "JobStatus",
    "Post",
    "PostStatus",
    "PostView",
    "ReportSummary",
    "Store",
    "StoreError",
    "StoredBrief",
    "TrackRow",
    "User",
    "backup",
    "restore",
]
