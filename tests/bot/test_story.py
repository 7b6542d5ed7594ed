"""The whole IMMU loop in Telegram, as people live it, against the fake Bot API."""

from __future__ import annotations

import json
import time

from tests.bot.harness import keyboard_message, popups, texts_to
from tests.conftest import EXAMPLE_PHOTO
from tests.fakes.telegram_server import CHANNEL_ID, FakeTelegram

PHOTO = EXAMPLE_PHOTO.read_bytes()


def _wait_result(tg: FakeTelegram, chat_id: int, count: int = 1) -> dict:  # type: ignore[type-arg]
    def ready() -> dict | None:  # type: ignore[type-arg]
        results = [
            m for m in tg.chat_messages(chat_id) if "pick:" in str(m.get("reply_markup", ""))
        ]
        return results[-1] if len(results) >= count else None

    return tg.wait_for(ready, 180, "the three tracks and the keyboard")  # type: ignore[no-any-return]


def test_photo_to_three_tracks_to_one_post_to_likes(tg: FakeTelegram, make_bot) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot().start()
    ann, bob = tg.user(42, "Ann"), tg.user(43, "Bob")

    # the bot asked Telegram for reaction counts, or it would never get likes
    polls = tg.calls_to("getUpdates")
    assert "message_reaction_count" in polls[0].params["allowed_updates"]

    tg.send_text(ann, "/start")
    tg.wait_for(lambda: any("turn photos into music" in t for t in texts_to(tg, 42)), 30, "welcome")

    tg.send_photo(ann, PHOTO)
    result = _wait_result(tg, 42)
    seen = texts_to(tg, 42)
    assert any(t.startswith("Got your photo. Queued, position 1") for t in seen)
    assert any("Looking at your photo" in t for t in seen)
    assert any("Composing" in t for t in seen)
    assert any("Encoding the tracks" in t for t in seen)

    audios = tg.calls_to("sendAudio", chat_id=42)
    assert len(audios) == 3
    for i, call in enumerate(audios):
        assert call.files["audio"][:3] == b"ID3"  # an MP3 with tags
        assert "thumbnail" in call.files  # cover art
        assert call.params["title"].startswith(f"{i + 1}. ")
    buttons = [b["callback_data"] for row in result["reply_markup"]["inline_keyboard"] for b in row]
    job = buttons[0].split(":")[1]
    assert buttons == [
        f"pick:{job}:0",
        f"pick:{job}:1",
        f"pick:{job}:2",
        f"regen:{job}",
        f"cancel:{job}",
    ]

    # a stranger cannot choose for Ann, even with the right button data
    tg.tap(bob, result, f"pick:{job}:0")
    tg.tap(bob, result, f"regen:{job}")
    tg.tap(bob, result, f"cancel:{job}")
    tg.tap(bob, result, "pick:999999999999999999999:0")  # malformed data: ignored
    tg.wait_for(
        lambda: sum("Only the person who sent" in p for p in popups(tg)) == 3, 30, "refusals"
    )
    assert tg.calls_to("sendVideo") == []

    # Ann chooses track 2: one channel post, and her keyboard becomes a link to it
    tg.tap(ann, result, f"pick:{job}:1")
    tg.wait_for(lambda: tg.calls_to("sendVideo"), 60, "channel post")
    (post,) = tg.calls_to("sendVideo")
    assert post.params["chat_id"] == "@immu_feed"
    assert post.files["video"][4:8] == b"ftyp"  # an MP4
    assert "Ann" not in post.params["caption"]  # anonymous by default
    link = tg.wait_for(
        lambda: [
            c for c in tg.calls_to("editMessageReplyMarkup", chat_id=42) if "url" in str(c.params)
        ],
        30,
        "link keyboard",
    )
    assert "https://t.me/immu_feed/" in str(link[0].params["reply_markup"])

    # a double tap, and a tap on another track, never post again
    tg.tap(ann, result, f"pick:{job}:1")
    tg.tap(ann, result, f"pick:{job}:2")
    tg.wait_for(
        lambda: popups(tg).count("This photo's track is already in the channel.") == 2,
        30,
        "already",
    )
    assert len(tg.calls_to("sendVideo")) == 1

    # readers react in the channel: the likes reach /profile and /top
    channel_message_id = max(m["message_id"] for m in tg.chat_messages(CHANNEL_ID))
    tg.react(channel_message_id, {"👍": 3, "🔥": 1})
    time.sleep(1.5)
    tg.send_text(ann, "/profile")
    tg.wait_for(
        lambda: any("4 likes in all" in t for t in texts_to(tg, 42)), 30, "profile with likes"
    )
    tg.send_text(bob, "/top")
    tg.wait_for(
        lambda: any("Most liked this week" in t and "4 likes" in t for t in texts_to(tg, 43)),
        30,
        "top",
    )

    # Bob cannot delete Ann's post, even by forging the callback; Ann can
    post_id = 1
    tg.tap(bob, result, f"del:{post_id}")
    tg.wait_for(
        lambda: popups(tg).count("Only the person who sent this photo can do that.") >= 2,
        30,
        "del refused",
    )
    assert tg.calls_to("deleteMessage") == []
    tg.send_text(ann, "/delete")
    menu = tg.wait_for(lambda: keyboard_message(tg, 42, "del"), 30, "delete menu")
    tg.tap(ann, menu, f"del:{post_id}")
    tg.wait_for(lambda: tg.calls_to("deleteMessage", chat_id="@immu_feed"), 30, "channel delete")
    tg.send_text(ann, "/profile")
    tg.wait_for(
        lambda: any("not posted anything yet" in t for t in texts_to(tg, 42)), 30, "empty profile"
    )

    assert bot.stop() == 0
    log = bot.log()
    assert tg.token not in log and tg.token.split(":")[1] not in log  # DEBUG logs too
    assert "Traceback" not in log
    (bot.log_path.parent / "transcript.txt").write_text(tg.transcript())


def test_a_restart_mid_job_still_delivers_once(tg: FakeTelegram, make_bot) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot(IMMU_STEPS="12", IMMU_POST_FORMAT="audio").start()
    ann = tg.user(42, "Ann")
    tg.send_photo(ann, PHOTO)
    tg.wait_for(
        lambda: any("Composing: step 2 of" in t for t in texts_to(tg, 42)), 120, "rendering"
    )
    # the event loop is free while the model works: others get answers meanwhile
    tg.send_text(tg.user(77, "Zoe"), "/help")
    tg.wait_for(lambda: texts_to(tg, 77), 30, "/help while rendering")
    assert not any("Composing: step 12 of" in t for t in texts_to(tg, 42))
    bot.kill()
    assert tg.calls_to("sendAudio") == []

    bot.start()
    result = _wait_result(tg, 42)
    time.sleep(2)  # anything duplicated would have arrived by now
    assert len(tg.calls_to("sendAudio", chat_id=42)) == 3
    assert len([m for m in tg.chat_messages(42) if "pick:" in str(m.get("reply_markup", ""))]) == 1
    # and the choice still works after the restart
    job = result["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(":")[1]
    tg.send_text(ann, "/anonymous")  # she opts in to showing her name
    tg.wait_for(lambda: any("first name is now shown" in t for t in texts_to(tg, 42)), 30, "opt in")
    tg.tap(ann, result, f"pick:{job}:0")
    post = tg.wait_for(
        lambda: tg.calls_to("sendAudio", chat_id="@immu_feed"), 60, "post after restart"
    )[0]
    assert post.files["audio"][:3] == b"ID3" and "thumbnail" in post.files  # IMMU_POST_FORMAT=audio
    assert "by Ann" in post.params["caption"]


def test_a_restart_between_choice_and_post_posts_exactly_once(tg: FakeTelegram, make_bot) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot().start()
    ann = tg.user(42, "Ann")
    tg.send_photo(ann, PHOTO)
    result = _wait_result(tg, 42)
    job = result["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(":")[1]
    tg.bot_is_channel_admin = False  # the channel refuses: the choice is kept
    tg.tap(ann, result, f"pick:{job}:2")
    tg.wait_for(lambda: any("cannot be reached right now" in p for p in popups(tg)), 30, "pending")
    bot.kill()
    tg.bot_is_channel_admin = True
    bot.start()
    posts = tg.wait_for(
        lambda: [m for m in tg.chat_messages(CHANNEL_ID) if "video" in m], 60, "retried post"
    )
    tg.tap(ann, result, f"pick:{job}:2")
    tg.wait_for(lambda: any("already in the channel" in p for p in popups(tg)), 30, "already")
    time.sleep(2)
    assert len([m for m in tg.chat_messages(CHANNEL_ID) if "video" in m]) == len(posts) == 1
    tg.wait_for(lambda: any("now in the channel" in t for t in texts_to(tg, 42)), 30, "told")


def test_cancel_while_queued_and_regenerate(tg: FakeTelegram, make_bot) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot(IMMU_STEPS="10", IMMU_MAX_JOBS_PER_USER="3").start()
    ann = tg.user(42, "Ann")
    tg.send_photo(ann, PHOTO)
    tg.send_photo(ann, PHOTO)
    second = tg.wait_for(
        lambda: [m for m in tg.chat_messages(42) if "position 2" in str(m.get("text"))],
        60,
        "second queued",
    )[0]
    job2 = second["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(":")[1]
    tg.tap(ann, second, f"cancel:{job2}")
    tg.wait_for(lambda: any("Cancelled" in t for t in texts_to(tg, 42)), 30, "cancelled")
    first = _wait_result(tg, 42)
    job1 = first["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(":")[1]
    time.sleep(1)
    assert len(tg.calls_to("sendAudio")) == 3  # the cancelled job never ran

    tg.tap(ann, first, f"regen:{job1}")
    _wait_result(tg, 42, count=2)
    assert len(tg.calls_to("sendAudio")) == 6
    store_db = bot.env["IMMU_DATA_DIR"] + "/immu.db"
    import sqlite3

    def jobs() -> list[tuple[str, int, str]]:
        with sqlite3.connect(store_db) as db:
            return db.execute("SELECT photo_path, seed, status FROM jobs ORDER BY id").fetchall()

    # the store marks the job delivered just after the last message goes out
    tg.wait_for(lambda: jobs()[-1][2] == "delivered", 10, "status delivered")
    rows = jobs()
    assert rows[0][0] == rows[2][0] and rows[0][1] != rows[2][1]  # same photo, new seed
    assert [r[2] for r in rows] == ["delivered", "cancelled", "delivered"]
    json.dumps(rows)
