"""The store's typed rows: what a query hands back, statuses as enums, JSON decoded."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class JobStatus(StrEnum):
    """Where a job is. The schema's CHECK constraint lists the same values."""

    QUEUED = "queued"  # accepted, waiting for the composer
    RUNNING = "running"  # being composed
    DONE = "done"  # composed and saved; delivery to the person is left
    DELIVERED = "delivered"  # the three audios and the choice keyboard were sent
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)  # count against the limits
UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.DONE)  # resumed after a restart
FINISHED = (JobStatus.DELIVERED, JobStatus.FAILED, JobStatus.CANCELLED)


class PostStatus(StrEnum):
    PENDING = "pending"  # chosen, not yet in the channel: the retry loop posts it
    POSTED = "posted"
    FAILED = "failed"  # Telegram refused it for good, or every try failed
    UNKNOWN = "unknown"  # Telegram did not confirm in time: maybe posted; the person decides
    REVIEW = "review"  # waits for an operator's decision before the channel
    DECLINED = "declined"  # an operator said no (in review, or for good after reports)
    HIDDEN = "hidden"  # taken down after reports; waits for an operator's decision


HELD = (PostStatus.REVIEW, PostStatus.HIDDEN)  # an operator's decision is pending


@dataclass(frozen=True)
class StoredBrief:
    """The music brief as the store keeps it (the pipeline's ``Brief``, as plain data)."""

    description: str
    genres: tuple[str, ...]
    mood: str
    source: str
    tempo_bpm: int | None = None


@dataclass(frozen=True)
class User:
    id: int
    first_name: str
    language: str | None  # chosen with /lang; None: Telegram's
    telegram_language: str
    anonymous: bool
    describe: bool


@dataclass(frozen=True)
class Job:
    id: int
    user_id: int
    chat_id: int
    photo_path: str
    seed: int
    status: JobStatus
    status_message_id: int | None
    result_message_id: int | None
    attempts: int
    error: str | None
    captions: tuple[str, ...]
    brief: StoredBrief | None
    cover_path: str | None
    created_at: str
    remix_post_id: int | None = None
    delivery_attempts: int = 0


@dataclass(frozen=True)
class TrackRow:
    job_id: int
    idx: int
    genre: str
    prompt: str
    seed: int
    duration_s: float
    mp3_path: str
    png_path: str
    message_id: int | None = None


@dataclass(frozen=True)
class Post:
    id: int
    job_id: int
    track_idx: int
    user_id: int
    status: PostStatus
    channel_message_id: int | None
    attempts: int
    likes: int
    created_at: str
    hidden_at: str | None = None  # when reports last took it down; kept once it is back
    file_id: str | None = None  # the channel post's file as Telegram keeps it (from v7)
    file_kind: str | None = None  # "audio" or "video"
    named: bool = False  # went to the channel with its owner's name (from v8)
    described: bool = False  # went with the words about the photo (from v8)


@dataclass(frozen=True)
class ReportSummary:
    """Readers' reports as the operators' /stats shows them."""

    posts: int  # posts with at least one report
    top_post: int | None  # the most reported one
    top_count: int


@dataclass(frozen=True)
class PostView:
    """A post with what a listing shows of it."""

    id: int
    channel_message_id: int | None
    genre: str
    likes: int
    created_at: str
    status: PostStatus = PostStatus.POSTED

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", PostStatus(self.status))


@dataclass(frozen=True)
class PublicPost:
    """A public post with what its page shows: the job (brief, captions, cover), the
    chosen track and its owner."""

    post: Post
    job: Job
    track: TrackRow
    owner: User
