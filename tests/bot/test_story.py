"""The whole IMMU loop on the real chain (tiny models, the real ffmpeg), in process:
a photo, three tracks, one post, likes. The bot's rules are tested module by module
with a ``FakeComposer``; this is the one story where the composer is the real one."""

from __future__ import annotations

import dataclasses
import io

from PIL import Image

from bot.telegram.texts import CATALOGUE
from pipeline import LocalComposer
from tests.fakes.telegram_server import CHANNEL_ID, FakeTelegram
from tests.support.harness import answers, popups, replies
from tests.support.inprocess import CHANNEL, StartBot, job_of
from tests.support.paths import EXAMPLE_PHOTO

EN = CATALOGUE["en"]
REAL_CHAIN_S = 180  # tiny models on a busy 2-core machine: generous, never a pass condition


def _photo_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (37.0, 33.0, 59.0), 3: "E", 4: (126.0, 58.0, 41.0)}
    out = io.BytesIO()
    Image.open(EXAMPLE_PHOTO).convert("RGB").save(out, format="JPEG", exif=exif)
    return out.getvalue()


async def test_photo_to_three_tracks_to_one_post_to_likes(  # type: ignore[no-untyped-def]
    tg: FakeTelegram, start_bot: StartBot, tiny_config, fake_openai
) -> None:
    config = dataclasses.replace(
        tiny_config, llm_api_key="test-key", llm_base_url=fake_openai.base_url, llm_timeout_s=60
    )
    bot = await start_bot(LocalComposer(config))
    ann = tg.user(42, "Ann")

    fake_openai.hold()  # the model's lane waits on the language model until released
    tg.send_photo(ann, _photo_with_gps())
    await bot.until(lambda: fake_openai.requests, "the brief requested", REAL_CHAIN_S)
    await bot.until(lambda: EN["stage_brief"] in _edits(tg), "the brief stage on screen")
    assert answers(tg, 42) == [EN["received"]]  # one message, edited as the job moves
    assert replies(tg, 42)[0] == EN["queued"].format(position=1)
    # the event loop is free while the chain works: others get answers meanwhile
    tg.send_text(tg.user(77, "Zoe"), "/help")
    await bot.until(lambda: answers(tg, 77), "/help while composing")
    fake_openai.release()

    result = await bot.result_for(42, timeout=REAL_CHAIN_S)
    audios = tg.calls_to("sendAudio", chat_id=42)
    assert [c.params["title"] for c in audios] == [
        "1. bossa nova",
        "2. ambient",
        "3. acoustic folk",
    ]
    for call in audios:
        assert call.files["audio"][:3] == b"ID3"  # an MP3 with tags
        cover = Image.open(io.BytesIO(call.files["thumbnail"]))
        assert cover.format == "JPEG" and not cover.getexif()  # no GPS left in the cover art
    assert result["text"].startswith("<b>warm acoustic guitar over soft waves at sunset</b>")
    await bot.until(lambda: EN["delivered"] in _edits(tg), "done")

    # Ann chooses track 2: one channel post, an MP4 of her photo and the track
    tg.tap(ann, result, f"pick:{job_of(result)}:1")
    await bot.until(lambda: popups(tg) == [EN["posted"]], "posted", REAL_CHAIN_S)
    (post,) = tg.calls_to("sendVideo")
    assert post.params["chat_id"] == CHANNEL and post.files["video"][4:8] == b"ftyp"
    assert "ambient" in post.params["caption"]

    # readers react in the channel: the likes reach her profile
    (channel_message,) = [m["message_id"] for m in tg.chat_messages(CHANNEL_ID)]
    tg.react(channel_message, {"👍": 3, "🔥": 1})
    await bot.until(lambda: bot.db("SELECT likes FROM posts") == [(4,)], "likes stored")
    tg.send_text(ann, "/profile")
    await bot.until(lambda: "4 likes in all" in answers(tg, 42)[-1], "profile with likes")


def _edits(tg: FakeTelegram) -> list[str]:
    return [str(c.params["text"]) for c in tg.calls_to("editMessageText", chat_id=42)]
