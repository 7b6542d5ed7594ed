"""Beyond the paper: remix from the feed, a weekly digest, descriptions for screen readers."""

from __future__ import annotations

import base64
import io
import json

from PIL import Image

from tests.bot.harness import results, texts_to
from tests.conftest import EXAMPLE_PHOTO
from tests.fakes.telegram_server import CHANNEL_ID, FakeTelegram

PHOTO = EXAMPLE_PHOTO.read_bytes()


def _job(result: dict) -> str:  # type: ignore[type-arg]
    return str(result["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(":")[1])


def test_a_reader_remixes_a_post_and_a_digest_follows_the_likes(tg: FakeTelegram, make_bot) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot(IMMU_DIGEST_EVERY_H="0.001").start()  # a "week" of 3.6 s
    ann, rex = tg.user(42, "Ann"), tg.user(60, "Rex", language="ko")
    tg.send_photo(ann, PHOTO)
    result = tg.wait_for(lambda: results(tg, 42), 180, "delivered")[0]
    tg.tap(ann, result, f"pick:{_job(result)}:1")
    post = tg.wait_for(lambda: tg.calls_to("sendVideo"), 60, "posted")[0]

    # under the post: Remix and Make your own, as deep links into the bot, in words; Report
    buttons = [b for row in post.params["reply_markup"]["inline_keyboard"] for b in row]
    assert [b["text"] for b in buttons] == ["Remix this track", "Make your own", "Report"]
    assert buttons[0]["url"] == "https://t.me/immu_test_bot?start=remix-1"
    assert buttons[1]["url"] == "https://t.me/immu_test_bot?start=make"
    # the post describes the photo and the music in plain words (screen readers)
    assert "Photo: " in post.params["caption"] and "Music: " in post.params["caption"]

    # Rex follows the Remix link: /start remix-1 gives him three variations of that track
    tg.send_text(rex, "/start remix-1")
    remix = tg.wait_for(lambda: results(tg, 60), 180, "remix delivered")[0]
    db = bot.env["IMMU_DATA_DIR"] + "/immu.db"
    import sqlite3

    with sqlite3.connect(db) as conn:
        genre, prompt = conn.execute(
            "SELECT genre, prompt FROM tracks WHERE job_id = 1 AND idx = 1"
        ).fetchone()
        rows = conn.execute("SELECT genre, prompt FROM tracks WHERE job_id = 2").fetchall()
        assert conn.execute("SELECT remix_post_id FROM jobs WHERE id = 2").fetchone()[0] == 1
    assert rows == [(genre, prompt)] * 3
    assert len(tg.calls_to("sendAudio", chat_id=60)) == 3 and remix

    # a remix of a post that is gone is refused clearly
    tg.send_text(rex, "/start remix-999")
    tg.wait_for(lambda: any("리믹스할 수 없어요" in t for t in texts_to(tg, 60)), 30, "gone")

    # likes arrive, the period passes: the digest lists the most liked track, once
    channel_message = max(m["message_id"] for m in tg.chat_messages(CHANNEL_ID) if "video" in m)
    tg.react(channel_message, {"❤": 5})
    digests = tg.wait_for(
        lambda: [
            c
            for c in tg.calls_to("sendMessage", chat_id="@immu_feed")
            if "most liked" in c.params["text"]
        ],
        60,
        "digest",
    )
    assert f"https://t.me/immu_feed/{channel_message}" in digests[0].params["text"]
    assert "5 likes" in digests[0].params["text"]


def test_describe_off_keeps_posts_short(tg: FakeTelegram, make_bot) -> None:  # type: ignore[no-untyped-def]
    make_bot(IMMU_POST_FORMAT="audio").start()
    ann = tg.user(42, "Ann")
    tg.send_text(ann, "/describe")
    tg.wait_for(lambda: any("no longer include" in t for t in texts_to(tg, 42)), 30, "off")
    tg.send_photo(ann, PHOTO)
    result = tg.wait_for(lambda: results(tg, 42), 180, "delivered")[0]
    tg.tap(ann, result, f"pick:{_job(result)}:0")
    post = tg.wait_for(lambda: tg.calls_to("sendAudio", chat_id="@immu_feed"), 60, "posted")[0]
    assert "Photo: " not in post.params["caption"]


def test_vision_mode_sends_the_photo_without_metadata(fake_openai) -> None:  # type: ignore[no-untyped-def]
    from pipeline.brief import BriefWriter
    from pipeline.photo import clean_jpeg, load_photo

    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (37.0, 33.0, 59.0)}
    out = io.BytesIO()
    Image.open(EXAMPLE_PHOTO).save(out, format="JPEG", exif=exif)
    jpeg = clean_jpeg(load_photo(out.getvalue()))
    writer = BriefWriter(api_key="test-key", base_url=fake_openai.base_url, model="m")
    assert writer.write(["a sunset"], image_jpeg=jpeg).source == "llm"
    content = fake_openai.requests[0]["messages"][1]["content"]
    assert content[0]["type"] == "text" and json.loads(content[0]["text"])["captions"] == [
        "a sunset"
    ]
    url = content[1]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert not sent.getexif() and max(sent.size) <= 1024
