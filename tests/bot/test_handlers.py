"""Commands and messages: each answered in the person's language, whatever they send."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest
from PIL import Image

from bot.telegram.texts import CATALOGUE
from pipeline import Stage
from tests.fakes.composer import FakeComposer
from tests.fakes.telegram_server import FakeTelegram
from tests.support import corpus
from tests.support.harness import answers, popups, replies, results, shown
from tests.support.inprocess import PHOTO, StartBot, job_of

EN, KO = CATALOGUE["en"], CATALOGUE["ko"]


def _prefix(lang: str, key: str) -> str:
    return CATALOGUE[lang][key].split("{")[0]


async def test_start_and_help_welcome_by_name_and_name_the_channel(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot()
    tg.send_text(tg.user(42, "Ann"), "/start")
    tg.send_text(tg.user(43, "Bob"), "/help")
    tg.send_text(tg.user(44, "Cy"), "/nosuchcommand")
    await bot.until(lambda: all(answers(tg, c) for c in (42, 43, 44)), "welcomes")
    assert answers(tg, 42) == [EN["start"].format(name="Ann", channel="@immu_feed")]
    assert answers(tg, 43)[0].startswith("Hi Bob!")
    assert answers(tg, 44)[0].startswith("Hi Cy!")  # an unknown command gets the help


async def test_id_tells_anyone_their_numeric_id_in_their_language(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot()
    tg.send_text(tg.user(123_456_789, "Ann"), "/id")
    tg.send_text(tg.user(44, "Cy", language="ko"), "/id")
    await bot.until(lambda: answers(tg, 123_456_789) and answers(tg, 44), "both answered")
    assert answers(tg, 123_456_789) == [EN["your_id"].format(user_id=123_456_789)]
    assert answers(tg, 44) == [KO["your_id"].format(user_id=44)]


async def test_stickers_voice_and_text_get_a_hint_in_korean_too(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot()
    ko = tg.user(51, "민지", language="ko")
    en = tg.user(52, "Sam")
    for kind in ("sticker", "voice", "location"):
        tg.send_other(ko, kind)
    tg.send_text(en, "hello bot")
    await bot.until(lambda: len(answers(tg, 51)) >= 3 and answers(tg, 52), "hints")
    assert answers(tg, 51) == [KO["unsupported"]] * 3
    assert answers(tg, 52) == [EN["unsupported"]]
    tg.send_text(ko, "/start")
    await bot.until(lambda: len(answers(tg, 51)) == 4, "Korean welcome")
    assert answers(tg, 51)[-1].startswith("안녕하세요 민지님! 사진을 음악으로")
    tg.send_text(ko, "/lang en")
    await bot.until(lambda: answers(tg, 51)[-1] == EN["lang_set"], "switched to English")
    tg.send_other(ko, "sticker")
    await bot.until(lambda: answers(tg, 51)[-1] == EN["unsupported"], "English now")


async def test_lang_without_a_choice_switches_to_the_other_language(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot()
    sam = tg.user(52, "Sam")
    tg.send_text(sam, "/lang")
    await bot.until(lambda: answers(tg, 52) == [KO["lang_set"]], "Korean")
    tg.send_text(sam, "/profile")  # every later answer is in Korean, though Telegram says en
    await bot.until(lambda: answers(tg, 52)[1:] == [KO["profile_empty"]], "profile in Korean")
    tg.send_text(sam, "/lang xx")  # not a language: switches back
    await bot.until(lambda: answers(tg, 52)[2:] == [EN["lang_set"]], "English again")


async def test_admin_commands_by_user_id_only(tg: FakeTelegram, start_bot: StartBot) -> None:
    bot = await start_bot(admin_ids="7,8")
    tg.send_text(tg.user(42, "Ann"), "/stats")
    await bot.until(lambda: answers(tg, 42), "Ann's answer")
    tg.send_text(tg.user(8, "Op"), "/stats")
    await bot.until(lambda: answers(tg, 8), "the operator's answer")
    assert answers(tg, 42) == [EN["admin_only"]]
    (stats,) = answers(tg, 8)
    for line in ("users: 2", "in_line: 0", "workers_alive: 1"):
        assert line in stats.splitlines(), stats


async def test_every_hostile_file_gets_a_clear_answer_and_nothing_breaks(
    tg: FakeTelegram, start_bot: StartBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples = corpus.build()
    assert len(samples) >= 30
    # this process's temporary files in a folder of this test's own: tests in other
    # processes write theirs to the machine's /tmp meanwhile
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    composer = FakeComposer()
    gate = composer.hold(Stage.CAPTION)  # the first accepted job holds the lane
    bot = await start_bot(composer, max_queue=200)

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

    # one clear answer each, in the person's language
    await bot.until(lambda: all(replies(tg, chat) for chat, _, _ in sent), "every file answered")
    for chat, lang, expected in sent:
        assert len(shown(tg, chat)) == 1  # one message each: "got it" edited, or a refusal
        first = replies(tg, chat)[0]
        key = "queued" if expected == "ok" else expected
        assert first.startswith(_prefix(lang, key)), (chat, expected, first)

    # files refused by declared size or type were never downloaded
    downloaded = len(tg.calls_to("getFile"))
    assert downloaded == len([1 for _, _, e in sent if e not in ("too_large", "unsupported")])

    # Accepted files are stored as clean JPEGs, so composing each would test the same thing
    # again: the people cancel while queued; the one being composed cannot be cancelled.
    (running,) = await gate.reached()
    accepted = [chat for chat, _, expected in sent if expected == "ok"]
    for chat in accepted:
        (queued,) = [  # "got it", edited to "queued" with its Cancel button
            c.params for c in tg.calls_to("editMessageText", chat_id=chat) if "cancel:" in str(c.params)
        ]  # fmt: skip
        tg.tap(tg.user(chat, "P"), tg.chat_messages(chat)[1], f"cancel:{job_of(queued)}")
    await bot.until(lambda: len(popups(tg)) == len(accepted), "every cancel answered")
    cancelled = [p for p in popups(tg) if p in (EN["cancelled"], KO["cancelled"])]
    refused = [p for p in popups(tg) if p in (EN["cannot_cancel"], KO["cannot_cancel"])]
    assert len(cancelled) == len(accepted) - 1 and len(refused) == 1
    gate.release()
    await bot.until(lambda: sum(bool(results(tg, c)) for c in accepted) == 1, "the running one")

    late = tg.user(99, "Late")  # the bot still composes after all that
    await bot.deliver(late, PHOTO)
    assert composer.job_ids == [running, composer.job_ids[-1]]
    accepted.append(99)

    # what reaches ffmpeg and Telegram is our clean JPEG: no EXIF, no GPS, no payload
    photos = list((bot.data_dir / "photos").iterdir())
    assert len(photos) == len(accepted)  # refused files were never stored
    for path in photos:
        data = path.read_bytes()
        assert data[:2] == b"\xff\xd8" and b"PK\x03\x04" not in data and b"<script>" not in data
        assert not Image.open(io.BytesIO(data)).getexif()
    for call in tg.calls_to("sendAudio"):
        assert not Image.open(io.BytesIO(call.files["thumbnail"])).getexif()

    # nothing left behind
    assert not list(bot.data_dir.rglob("*.tmp"))
    assert list(temp.iterdir()) == []


async def test_in_a_group_the_bot_points_to_its_private_chat_and_composes_nothing(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    bot = await start_bot(composer)
    group = tg.group()
    ann, bo = tg.user(42, "Ann"), tg.user(43, "Bo", language="ko")
    tg.send_text(ann, "/help@immu_test_bot", chat=group)
    tg.send_photo(bo, PHOTO, chat=group)
    tg.send_text(ann, "/start", chat=group)
    await bot.until(lambda: len(answers(tg, group["id"])) == 3, "three pointers")
    first, second, _ = answers(tg, group["id"])
    assert first == EN["private_only"].format(bot="immu_test_bot")
    assert second == KO["private_only"].format(bot="immu_test_bot")
    await bot.settled()  # a photo sent after them is composed: the group's never was
    assert len(tg.calls_to("getFile")) == 1  # the marker's photo only
    assert len(composer.requests) == 1 and len(bot.job_statuses()) == 1
    assert answers(tg, 42) == [] and answers(tg, 43) == []


async def test_junk_deep_links_and_callback_data_get_an_answer_and_no_traceback(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot()
    ann = tg.user(42, "Ann")
    for payload in ("remix-²", "remix-" + "9" * 20, "remix-", "remix-1x", "make"):
        tg.send_text(ann, f"/start {payload}")
    await bot.until(lambda: len(answers(tg, 42)) == 5, "five answers")
    assert all(a.startswith("Hi Ann!") for a in answers(tg, 42))
    message = tg.send_text(ann, "hello")
    for data in ("pick:¹²:0", "pick:٣:0", "regen:²", "del:" + "9" * 30, "forget:1\n", ""):
        tg.tap(ann, message, data)
    await bot.until(lambda: len(popups(tg)) == 6, "six taps answered")
    assert bot.tracebacks == []
