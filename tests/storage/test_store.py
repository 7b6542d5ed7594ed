"""The store as the bot uses it: durable jobs, one post per job, likes, privacy."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage import (
    JobStatus,
    PostStatus,
    Store,
    StoredBrief,
    StoreError,
    StoreTooNew,
    TrackRow,
    backup,
    restore,
)
from storage.schema import MIGRATIONS
from tests.support.stores import version_5_store

BRIEF = StoredBrief("warm evening", ("jazz", "pop", "rock"), "calm", "offline", 90)


@pytest.fixture()
async def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = await Store.open(tmp_path / "immu.db")
    yield s
    await s.close()


async def _job_with_tracks(store: Store, user_id: int = 1, photo: str = "photo.jpg") -> int:
    await store.upsert_user(user_id, "Ann")
    job = await store.create_job(user_id, user_id, photo, seed=1)
    tracks = [
        TrackRow(job.id, i, g, f"{g}, x", i, 5.1, f"t{i}.mp3", f"t{i}.png")
        for i, g in enumerate(["jazz", "pop", "rock"])
    ]
    await store.save_result(job.id, ["a sunset"], BRIEF, f"cover-{job.id}.jpg", tracks)
    return job.id


async def test_schema_is_migrated_once_and_readable_with_sqlite3(tmp_path: Path) -> None:
    await (await Store.open(tmp_path / "a.db")).close()
    s = await Store.open(tmp_path / "a.db")  # again: no error, same version
    await s.close()
    with sqlite3.connect(tmp_path / "a.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"users", "jobs", "tracks", "posts", "reactions", "meta"} <= tables


async def test_a_version_1_store_is_upgraded_in_place(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "old.db") as db:
        db.executescript(MIGRATIONS[0] + "PRAGMA user_version=1;")
        db.execute("INSERT INTO users (id, created_at) VALUES (1, 'x')")
        db.execute(
            "INSERT INTO jobs (user_id, chat_id, photo_path, seed, status, created_at, updated_at)"
            " VALUES (1, 1, 'p', 0, 'queued', 'x', 'x')"
        )
    store = await Store.open(tmp_path / "old.db")
    (job,) = await store.unfinished_jobs()
    assert job.remix_post_id is None
    await store.set_meta("last_digest", "2026-01-01")
    assert await store.get_meta("last_digest") == "2026-01-01"
    await store.close()


async def test_queue_positions_follow_acceptance_order(store: Store) -> None:
    await store.upsert_user(1, "Ann")
    jobs = [await store.create_job(1, 1, "p.jpg", seed=i) for i in range(3)]
    assert [await store.queue_position(j.id) for j in jobs] == [1, 2, 3]
    await store.set_job_status(jobs[0].id, JobStatus.DELIVERED)
    assert await store.queue_position(jobs[2].id) == 2
    assert await store.cancel_if(jobs[1].id, JobStatus.QUEUED)
    assert await store.queue_position(jobs[2].id) == 1
    assert [j.id for j in await store.unfinished_jobs()] == [jobs[2].id]


async def test_a_job_can_only_be_cancelled_while_queued(store: Store) -> None:
    await store.upsert_user(1, "Ann")
    job = await store.create_job(1, 1, "p.jpg", seed=0)
    assert await store.start_attempt(job.id) == 1
    assert not await store.cancel_if(job.id, JobStatus.QUEUED)
    assert (await store.get_job(job.id)).status is JobStatus.RUNNING  # type: ignore[union-attr]


async def test_a_job_has_one_post_whatever_is_tapped_after(store: Store) -> None:
    job_id = await _job_with_tracks(store)
    first = await store.claim_post(job_id, 1, 1)
    again = await store.claim_post(job_id, 2, 1)
    assert again.id == first.id and again.track_idx == 1
    both = await asyncio.gather(store.claim_post(job_id, 0, 1), store.claim_post(job_id, 2, 1))
    assert {p.id for p in both} == {first.id}
    await store.mark_posted(first.id, 555)
    assert await store.pending_posts() == []


async def test_reaction_counts_become_likes_on_profile_and_top(store: Store) -> None:
    job_id = await _job_with_tracks(store)
    post = await store.claim_post(job_id, 0, 1)
    await store.mark_posted(post.id, 77)
    updated = await store.set_reactions(77, {"👍": 3, "❤": 2, "👎": 4}, likes=5)
    assert updated is not None and updated.likes == 5
    updated = await store.set_reactions(77, {"👍": 1}, likes=1)  # totals replace, not add
    assert updated is not None and updated.likes == 1
    assert await store.set_reactions(999, {"👍": 1}, likes=1) is None  # not our post
    (view,) = await store.user_posts(1)
    assert view.likes == 1 and view.genre == "jazz" and view.channel_message_id == 77
    week_ago = datetime.now(UTC) - timedelta(days=7)
    assert [p.id for p in await store.top_posts(week_ago)] == [post.id]


async def test_likes_are_recounted_from_every_stored_reaction(store: Store) -> None:
    job_id = await _job_with_tracks(store)
    post = await store.claim_post(job_id, 0, 1)
    await store.mark_posted(post.id, 77)
    await store.set_reactions(77, {"👍": 3, "❤\ufe0f": 2, "👎": 4}, likes=9)  # counted as before
    await store.recount_likes(["👍", "❤"])  # the operator's choice; U+FE0F does not matter
    (view,) = await store.user_posts(1)
    assert view.likes == 5
    await store.recount_likes([])  # nothing counts: no likes, reactions still kept
    (view,) = await store.user_posts(1)
    assert view.likes == 0
    await store.recount_likes(["👎"])
    (view,) = await store.user_posts(1)
    assert view.likes == 4


async def test_only_the_owner_deletes_a_post(store: Store) -> None:
    job_id = await _job_with_tracks(store, user_id=1)
    post = await store.claim_post(job_id, 0, 1)
    await store.upsert_user(2, "Bob")
    assert await store.delete_post(post.id, 2) is None
    assert await store.get_post(post.id) is not None
    assert await store.delete_post(post.id, 1) is not None
    assert await store.get_post(post.id) is None


async def test_forget_removes_everything_of_a_person(store: Store) -> None:
    job_id = await _job_with_tracks(store, user_id=1)
    await store.claim_post(job_id, 0, 1)
    other = await _job_with_tracks(store, user_id=2)
    paths = await store.forget_user(1)
    assert {"cover-1.jpg", "t0.mp3", "t2.png"} <= set(paths)
    assert await store.get_user(1) is None and await store.get_job(job_id) is None
    assert await store.post_for_job(job_id) is None
    assert await store.get_job(other) is not None


async def test_retention_drops_only_old_unchosen_tracks(store: Store) -> None:
    chosen = await _job_with_tracks(store)
    unchosen = await _job_with_tracks(store)
    for job_id in (chosen, unchosen):
        await store.set_job_status(job_id, JobStatus.DELIVERED)
    await store.claim_post(chosen, 0, 1)
    assert await store.expire_unchosen(older_than_days=1) == []  # too recent
    await store._write("UPDATE jobs SET updated_at = '2000-01-01T00:00:00+00:00'")
    paths = await store.expire_unchosen(older_than_days=1)
    assert "t0.mp3" in paths
    assert await store.get_job(unchosen) is None and await store.get_job(chosen) is not None


async def test_a_job_comes_back_typed_with_its_brief_decoded(store: Store) -> None:
    job_id = await _job_with_tracks(store)
    job = await store.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.DONE
    assert job.brief == BRIEF and job.captions == ("a sunset",)
    post = await store.claim_post(job_id, 1, 1)
    assert post.status is PostStatus.PENDING


async def test_a_photo_shared_by_new_tracks_jobs_outlives_an_expired_sibling(store: Store) -> None:
    posted = await _job_with_tracks(store, photo="shared.jpg")
    sibling = await _job_with_tracks(store, photo="shared.jpg")  # "new tracks from this photo"
    for job_id in (posted, sibling):
        await store.set_job_status(job_id, JobStatus.DELIVERED)
    await store.claim_post(posted, 0, 1)
    await store._write("UPDATE jobs SET updated_at = '2000-01-01T00:00:00+00:00'")
    paths = await store.expire_unchosen(older_than_days=1)
    assert f"cover-{sibling}.jpg" in paths
    assert "shared.jpg" not in paths  # the posted job's remixes still need it
    assert await store.photo_in_use("shared.jpg")


async def test_forget_is_all_or_nothing(store: Store) -> None:
    job_id = await _job_with_tracks(store, user_id=1)
    await store._write(
        "CREATE TRIGGER refuse BEFORE DELETE ON users BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
    )
    with pytest.raises(StoreError):
        await store.forget_user(1)
    assert await store.get_job(job_id) is not None  # nothing half-deleted
    assert await store.claim_post(job_id, 0, 1) is not None  # the store still works


async def test_reads_fail_as_store_errors_too(store: Store) -> None:
    await store._write("PRAGMA foreign_keys=OFF")
    await store._write("DROP TABLE users")  # a damaged store, as an operator might find it
    with pytest.raises(StoreError, match="cannot be read"):
        await store.get_user(1)


async def test_backup_is_consistent_while_writes_go_on(store: Store, tmp_path: Path) -> None:
    await store.upsert_user(1, "Ann")

    async def writer() -> None:
        for i in range(200):
            await store.create_job(1, 1, f"p{i}.jpg", seed=i)

    task = asyncio.create_task(writer())
    await asyncio.sleep(0.01)
    await backup(store.path, tmp_path / "copy.db")
    await task
    with sqlite3.connect(tmp_path / "copy.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        copied = db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
    assert 0 <= copied <= 200
    target = tmp_path / "restored" / "immu.db"
    await restore(tmp_path / "copy.db", target)
    restored = await Store.open(target)
    assert (await restored.stats()).get("queued", 0) == copied
    await restored.close()


async def test_a_read_only_store_gives_a_store_error(tmp_path: Path) -> None:
    s = await Store.open(tmp_path / "ro.db")
    await s.close()
    uri_db = await __import__("aiosqlite").connect(
        f"file:{tmp_path / 'ro.db'}?mode=ro", uri=True, isolation_level=None
    )
    ro = Store(uri_db, tmp_path / "ro.db")
    with pytest.raises(StoreError, match="cannot be written"):
        await ro.upsert_user(1, "Ann")
    await ro.close()


async def test_ids_are_never_reused_after_a_delete(store: Store) -> None:
    """An old remix link (post id) or job folder (job id) must never reach someone else's."""
    first = await _job_with_tracks(store, user_id=1)
    post = await store.claim_post(first, 0, 1)
    assert await store.delete_post(post.id, 1) is not None
    await store.forget_user(1)
    second = await _job_with_tracks(store, user_id=2)
    assert second > first
    assert (await store.claim_post(second, 0, 2)).id > post.id


async def test_a_version_2_store_keeps_its_rows_and_cascades(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "v2.db") as db:
        db.executescript(MIGRATIONS[0] + MIGRATIONS[1] + "PRAGMA user_version=2;")
        db.execute("INSERT INTO users (id, created_at) VALUES (1, 'x')")
        db.execute(
            "INSERT INTO jobs (id, user_id, chat_id, photo_path, seed, status, created_at,"
            " updated_at) VALUES (7, 1, 1, 'p', 0, 'delivered', 'x', 'x')"
        )
        db.execute(
            "INSERT INTO tracks VALUES (7, 0, 'jazz', 'jazz, x', 0, 5.1, 'a.mp3', 'a.png', NULL)"
        )
        db.execute(
            "INSERT INTO posts (id, job_id, track_idx, user_id, status, channel_message_id,"
            " created_at) VALUES (3, 7, 0, 1, 'posted', 99, 'x')"
        )
    store = await Store.open(tmp_path / "v2.db")
    job = await store.get_job(7)
    assert job is not None and job.status is JobStatus.DELIVERED and job.delivery_attempts == 0
    post = await store.get_post(3)
    assert post is not None and post.channel_message_id == 99
    assert [t.genre for t in await store.tracks(7)] == ["jazz"]
    await store.forget_user(1)  # foreign keys still cascade after the tables were rebuilt
    assert await store.tracks(7) == [] and await store.get_post(3) is None
    await store.close()


async def test_a_failed_post_goes_back_in_line_only_when_asked(store: Store) -> None:
    job_id = await _job_with_tracks(store)
    post = await store.claim_post(job_id, 0, 1)
    assert await store.count_post_attempt(post.id) == 1
    await store.set_post_status(post.id, PostStatus.FAILED)
    assert await store.pending_posts() == []  # the retry loop leaves it alone
    assert await store.repost(post.id)
    (again,) = await store.pending_posts()
    assert again.attempts == 0
    assert not await store.repost(post.id)  # already pending


async def test_a_version_4_store_dates_the_posts_reports_took_down(tmp_path: Path) -> None:
    """Posts hidden, or restored, after reports before the store knew when: their wait
    for an operator starts at the upgrade, and reports never take a restored one down."""
    with sqlite3.connect(tmp_path / "v4.db") as db:
        db.executescript("".join(MIGRATIONS[:4]) + "PRAGMA user_version=4;")
        db.execute("INSERT INTO users (id, created_at) VALUES (1, 'x')")
        for job_id, status in ((1, "hidden"), (2, "posted"), (3, "posted")):
            db.execute(
                "INSERT INTO jobs (id, user_id, chat_id, photo_path, seed, status, created_at,"
                " updated_at) VALUES (?, 1, 1, 'p', 0, 'delivered', 'x', 'x')",
                (job_id,),
            )
            db.execute(
                "INSERT INTO posts (id, job_id, track_idx, user_id, status, created_at)"
                " VALUES (?, ?, 0, 1, ?, 'x')",
                (job_id, job_id, status),
            )
        db.executemany(  # 1 waits for a decision, 2 was restored after reports; 3 never
            "INSERT INTO reviews VALUES (?, -100, ?, 'reports')", [(1, 10), (2, 11)]
        )
    before = datetime.now(UTC) - timedelta(seconds=1)
    store = await Store.open(tmp_path / "v4.db")
    posts = [await store.get_post(post_id) for post_id in (1, 2, 3)]
    dated = {post.id: post.hidden_at for post in posts if post is not None}
    assert dated[1] is not None and dated[2] is not None and dated[3] is None
    assert await store.hidden_before(before) == []  # not due at once after the upgrade
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert [post.id for post in await store.hidden_before(later)] == [1]
    await store.close()


async def test_an_upgrade_keeps_a_copy_and_makes_paths_relative_to_the_data_folder(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    moved = f"{data.resolve()}-old/photos/b.jpg"  # another folder, the same prefix: left alone
    version_5_store(data, [f"{data.resolve()}/photos/a.jpg", moved])
    store = await Store.open(data / "immu.db")
    first, second = await store.get_job(1), await store.get_job(2)
    assert first is not None and second is not None
    assert (first.photo_path, first.cover_path) == ("photos/a.jpg", "jobs/1/cover.jpg")
    assert second.photo_path == moved
    (track,) = await store.tracks(1)
    assert (track.mp3_path, track.png_path) == ("jobs/1/track-1.mp3", "jobs/1/track-1.png")
    await store.close()
    # the store as it was, for the IMMU that wrote it: consistent, version 5, its old paths
    with contextlib.closing(sqlite3.connect(data / "immu.db.before-v6")) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("PRAGMA user_version").fetchone()[0] == 5
        (photo,) = copy.execute("SELECT photo_path FROM jobs WHERE id = 1").fetchone()
        assert photo == f"{data.resolve()}/photos/a.jpg"


async def test_no_upgrade_without_its_copy(tmp_path: Path) -> None:
    version_5_store(tmp_path, ["/p.jpg"])
    (tmp_path / "immu.db.before-v6").mkdir()  # the copy cannot be written
    with pytest.raises(StoreError, match=r"cannot copy the store .* the store is unchanged"):
        await Store.open(tmp_path / "immu.db")
    with contextlib.closing(sqlite3.connect(tmp_path / "immu.db")) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 5


async def test_a_store_of_a_newer_immu_is_refused_and_never_touched(tmp_path: Path) -> None:
    path = tmp_path / "immu.db"
    newer = len(MIGRATIONS) + 1
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.executescript(f"CREATE TABLE later (x); PRAGMA user_version={newer};")
    before = path.read_bytes()
    with pytest.raises(StoreTooNew, match=f"version {newer}, written by a newer IMMU"):
        await Store.open(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["immu.db"]  # not even a -wal or -shm beside it


async def test_a_version_6_store_keeps_its_posts_without_a_file_to_share(tmp_path: Path) -> None:
    with contextlib.closing(sqlite3.connect(tmp_path / "v6.db")) as db, db:
        db.create_function("immu_data_dir", 0, lambda: f"{tmp_path.resolve()}/")  # migration 6
        db.executescript("".join(MIGRATIONS[:6]) + "PRAGMA user_version=6;")
        db.execute("INSERT INTO users (id, created_at) VALUES (1, 'x')")
        db.execute(
            "INSERT INTO jobs (id, user_id, chat_id, photo_path, seed, status, created_at,"
            " updated_at) VALUES (1, 1, 1, 'p', 0, 'delivered', 'x', 'x')"
        )
        db.execute(
            "INSERT INTO posts (id, job_id, track_idx, user_id, status, channel_message_id,"
            " created_at) VALUES (1, 1, 0, 1, 'posted', 10, 'x')"
        )
    store = await Store.open(tmp_path / "v6.db")
    post = await store.get_post(1)
    assert post is not None and (post.file_id, post.file_kind) == (None, None)
    assert await store.shareable_posts_of(1) == []  # in the channel, but not shareable inline
    await store.close()


async def test_shareable_posts_are_public_kept_files_of_people_not_banned(store: Store) -> None:
    for user_id in (1, 2):
        job_id = await _job_with_tracks(store, user_id)  # genres jazz, pop, rock; mood "calm"
        post = await store.claim_post(job_id, user_id - 1, user_id)  # 1: jazz, 2: pop
        await store.mark_posted(post.id, 100 + post.id)
        await store.set_post_file(post.id, f"file-{post.id}", "audio")
    job_id = await _job_with_tracks(store, 1)
    unposted = await store.claim_post(job_id, 0, 1)  # pending: never shared
    await store.set_post_file(unposted.id, "file-x", "audio")

    kept = await store.get_post(1)
    assert kept is not None and (kept.file_id, kept.file_kind) == ("file-1", "audio")
    assert [p.id for p in await store.shareable_posts_of(1)] == [1]
    assert [p.id for p in await store.shareable_posts_matching("JAZ")] == [1]  # any case
    assert [p.id for p in await store.shareable_posts_matching("Calm")] == [2, 1]  # the mood
    assert [p.id for p in await store.shareable_posts_matching("calm", before=2)] == [1]
    assert [p.id for p in await store.shareable_posts_matching("calm", limit=1)] == [2]
    assert await store.shareable_posts_matching("%") == []  # no LIKE wildcards

    assert await store.hide_post(2)
    assert [p.id for p in await store.shareable_posts_matching("calm")] == [1]
    await store.ban(1, banned_by=9)
    assert await store.shareable_posts_of(1) == []
    assert await store.shareable_posts_matching("calm") == []


async def test_a_version_7_stores_posts_carry_neither_a_name_nor_photo_words(
    tmp_path: Path,
) -> None:
    with contextlib.closing(sqlite3.connect(tmp_path / "v7.db")) as db, db:
        db.create_function("immu_data_dir", 0, lambda: f"{tmp_path.resolve()}/")  # migration 6
        db.executescript("".join(MIGRATIONS[:7]) + "PRAGMA user_version=7;")
        db.execute("INSERT INTO users (id, anonymous, describe, created_at) VALUES (1, 0, 1, 'x')")
        db.execute(
            "INSERT INTO jobs (id, user_id, chat_id, photo_path, seed, status, created_at,"
            " updated_at) VALUES (1, 1, 1, 'p', 0, 'delivered', 'x', 'x')"
        )
        db.execute(
            "INSERT INTO posts (id, job_id, track_idx, user_id, status, channel_message_id,"
            " created_at) VALUES (1, 1, 0, 1, 'posted', 10, 'x')"
        )
    store = await Store.open(tmp_path / "v7.db")
    post = await store.get_post(1)  # its owner shows both now; when it went out, unknown
    assert post is not None and (post.named, post.described) == (False, False)
    await store.set_post_shown(1, named=True, described=False)
    post = await store.get_post(1)
    assert post is not None and (post.named, post.described) == (True, False)
    await store.close()
    with contextlib.closing(sqlite3.connect(tmp_path / "v7.db")) as db:
        plan = db.execute("EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE remix_post_id = 1")
        assert "jobs_by_remix" in str(plan.fetchall())  # a post's remixes, found by index


async def test_a_withheld_check_that_fails_withholds_the_post_and_the_read_goes_on(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    for user_id in (1, 2):
        post = await store.claim_post(await _job_with_tracks(store, user_id), 0, user_id)
        await store.mark_posted(post.id, 70 + user_id)
    asked: list[str] = []

    def withheld(description: str, genre: str, mood: str, photo: str, music: str) -> bool:
        asked.append(genre)
        raise RuntimeError("no verdict")

    await store.withhold(withheld)
    assert await store.common_moods(5) == [] and await store.common_genres(5) == []
    assert await store.public_posts(5, mood="calm") == []
    assert len(await store.public_posts(5)) == 2  # unfiltered, the posts are there
    assert len(asked) >= 6  # every post, every read
    failures = [r for r in caplog.records if "withheld check failed" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is None  # one line, no traceback
