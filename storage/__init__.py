"""IMMU's store: SQLite through aiosqlite. Imports neither ``bot`` nor ``pipeline``."""

from storage.backup import Archived, backup, restore, restore_archive, write_archive
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
    PublicPost,
    ReportSummary,
    StoredBrief,
    TrackRow,
    User,
)
from storage.store import Store, StoreError, StoreTooNew, refuse_newer

__all__ = [
    "ACTIVE",
    "FINISHED",
    "HELD",
    "UNFINISHED",
    "Archived",
    "Job",
    "JobStatus",
    "Post",
    "PostStatus",
    "PostView",
    "PublicPost",
    "ReportSummary",
    "Store",
    "StoreError",
    "StoreTooNew",
    "StoredBrief",
    "TrackRow",
    "User",
    "backup",
    "refuse_newer",
    "restore",
    "restore_archive",
    "write_archive",
]
