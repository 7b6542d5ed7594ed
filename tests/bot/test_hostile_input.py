"""Hostile and broken files, each sent as a photo and as a document: a clear answer each,
in the person's language; the bot keeps serving; nothing leaks and nothing is left behind."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from PIL import Image

from bot.texts import CATALOGUE
from tests.bot import corpus
from tests.bot.harness import replies, texts_to
from tests.conftest import EXAMPLE_PHOTO
from tests.fakes.telegram_server import FakeTelegram


def _prefix(lang: str, key: str) -> str:
    return CATALOGUE[lang][key].split("{")[0]


def test_every_hostile_file_gets_a_clear_answer_and_nothing_breaks(
    tg: FakeTelegram, make_bot
) -> None:  # type: ignore[no-untyped-def]
    samples = corpus.build()
    assert len(samples) >= 30
    bot = make_bot(IMMU_STEPS="1", IMMU_GRIFFIN_LIM_ITERS="1", IMMU_MAX_QUEUE="200").start()
    temp_before = set(Path(tempfile.gettempdir()).glob("immu-*"))

    sent: list[tuple[int, str, str]] = []  # chat, language, expected key
    for i, sample in enumerate(samples):
        for mode in ("photo", "document"):
            user_id = 10_000 + 2 * i + (mode == "document")
            lang = "ko" if i % 2 else "en"
            user = tg.user(user_id, f"P{i}", language=lang)
            if mode == "photo":
                tg.send_photo(user, sample.data, size=sample.declared_size)
                expected = sample.as_photo
            else:
                tg.send_document(user, sample.data, file_name=sample.name, mime_type=sample.mime,
                                 size=sample.declared_size)  # fmt: skip
                expected = sample.as_document
            sent.append((user_id, lang, expected))

    # one clear first answer each, in the person's language
    def answered() -> bool:
        return all(replies(tg, chat) for chat, _, _ in sent)

    tg.wait_for(answered, 240, "an answer to every file")
    for chat, lang, expected in sent:
        first = replies(tg, chat)[0]
        key = "queued" if expected == "ok" else expected
        assert first.startswith(_prefix(lang, key)), (chat, expected, first)

    # files refused by declared size or type were never downloaded
    downloaded = len(tg.calls_to("getFile"))
    assert downloaded == len([1 for _, _, e in sent if e not in ("too_large", "unsupported")])

    # Accepted files are stored as clean JPEGs, so composing each would test the same thing
    # again: the people cancel while queued; every accepted job still ends, none is lost.
    accepted = [chat for chat, _, expected in sent if expected == "ok"]
    for chat in accepted:
        (sent_queued,) = [
            c for c in tg.calls_to("editMessageText", chat_id=chat) if "cancel:" in str(c.params)
        ]
        job = sent_queued.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(
            ":"
        )[1]
        tg.tap(tg.user(chat, "P", language="en"), tg.chat_messages(chat)[-1], f"cancel:{job}")

    def ended(chat: int) -> bool:
        seen = " ".join(texts_to(tg, chat))
        delivered = any("pick:" in str(m.get("reply_markup", "")) for m in tg.chat_messages(chat))
        return delivered or "Cancelled" in seen or "취소했어요" in seen

    tg.wait_for(lambda: all(ended(c) for c in accepted), 300, "every accepted job ended")
    late = tg.user(99, "Late")
    tg.send_photo(late, EXAMPLE_PHOTO.read_bytes())  # the bot still composes after all that
    tg.wait_for(
        lambda: any("pick:" in str(m.get("reply_markup", "")) for m in tg.chat_messages(99)),
        180,
        "late",
    )
    accepted.append(99)

    # what reaches ffmpeg and Telegram is our clean JPEG: no EXIF, no GPS, no payload
    data_dir = Path(bot.env["IMMU_DATA_DIR"])
    photos = list((data_dir / "photos").iterdir())
    assert len(photos) == len(accepted)  # refused files were never stored
    for path in photos:
        data = path.read_bytes()
        assert data[:2] == b"\xff\xd8" and b"PK\x03\x04" not in data and b"<script>" not in data
        assert not Image.open(io.BytesIO(data)).getexif()
    for call in tg.calls_to("sendAudio"):
        assert not Image.open(io.BytesIO(call.files["thumbnail"])).getexif()

    # nothing left behind
    assert not list(data_dir.rglob("*.tmp"))
    assert set(Path(tempfile.gettempdir()).glob("immu-*")) <= temp_before
    assert bot.proc is not None and bot.proc.poll() is None
    assert "Traceback" not in bot.log()


def test_stickers_voice_and_text_get_a_hint_in_korean_too(tg: FakeTelegram, make_bot) -> None:  # type: ignore[no-untyped-def]
    make_bot().start()
    ko = tg.user(51, "민지", language="ko")
    en = tg.user(52, "Sam")
    for kind in ("sticker", "voice", "location"):
        tg.send_other(ko, kind)
    tg.send_text(en, "hello bot")
    tg.wait_for(lambda: len(texts_to(tg, 51)) >= 3 and texts_to(tg, 52), 60, "hints")
    assert all(t == CATALOGUE["ko"]["unsupported"] for t in texts_to(tg, 51))
    assert texts_to(tg, 52) == [CATALOGUE["en"]["unsupported"]]
    tg.send_text(ko, "/start")
    tg.wait_for(lambda: any("사진을 음악으로" in t for t in texts_to(tg, 51)), 30, "Korean welcome")
    tg.send_text(ko, "/lang en")
    tg.wait_for(lambda: "Language: English." in texts_to(tg, 51), 30, "switched")
    tg.send_other(ko, "sticker")
    tg.wait_for(lambda: texts_to(tg, 51)[-1] == CATALOGUE["en"]["unsupported"], 30, "English now")
