"""What needs a real process: ``immu bot`` killed (-9) or restarted mid-way loses nothing and
repeats nothing, and a bad configuration is one line from the command itself.

Each job is held where the test wants it by design (the language model's answer or a
Telegram call kept waiting), never by hoping the machine is slow.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from tests.fakes.telegram_server import CHANNEL_ID, FakeTelegram
from tests.support.harness import BotProcess, answers, popups, results, texts_to
from tests.support.paths import EXAMPLE_PHOTO

PHOTO = EXAMPLE_PHOTO.read_bytes()


def _job(result: dict[str, Any]) -> str:
    return str(result["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(":")[1])


def _jobs(bot: BotProcess) -> list[tuple[str, int]]:
    with sqlite3.connect(Path(bot.env["IMMU_DATA_DIR"]) / "immu.db") as db:
        return db.execute("SELECT status, attempts FROM jobs ORDER BY id").fetchall()


def _clean_log(bot: BotProcess, tg: FakeTelegram) -> None:
    log = bot.log()
    assert tg.token not in log and tg.token.split(":")[1] not in log  # DEBUG logs too
    assert "Traceback" not in log


def test_a_restart_mid_job_still_delivers_once(tg: FakeTelegram, make_bot, fake_openai) -> None:  # type: ignore[no-untyped-def]
    fake_openai.hold()  # the composer waits for the brief: the job is mid-way by design
    bot = make_bot(
        IMMU_POST_FORMAT="audio", IMMU_LLM_API_KEY="test-key",
        IMMU_LLM_BASE_URL=fake_openai.base_url, IMMU_LLM_TIMEOUT_S="120",
    ).start()  # fmt: skip
    ann = tg.user(42, "Ann")
    tg.send_photo(ann, PHOTO)
    tg.wait_for(lambda: fake_openai.requests, 120, "the brief requested")
    # the event loop is free while the model works: others get answers meanwhile
    tg.send_text(tg.user(77, "Zoe"), "/help")
    tg.wait_for(lambda: answers(tg, 77), 30, "/help while composing")
    bot.kill()
    assert _jobs(bot) == [("running", 1)] and tg.calls_to("sendAudio") == []

    fake_openai.release()
    bot.start()
    result = tg.wait_for(lambda: results(tg, 42), 120, "the result after the restart")[0]
    # and the choice still works after the restart
    tg.send_text(ann, "/anonymous")  # she opts in to showing her name
    tg.wait_for(lambda: any("first name is now shown" in t for t in answers(tg, 42)), 30, "opt in")
    tg.tap(ann, result, f"pick:{_job(result)}:0")
    post = tg.wait_for(lambda: tg.calls_to("sendAudio", chat_id="@immu_feed"), 60, "posted")[0]
    assert post.files["audio"][:3] == b"ID3" and "thumbnail" in post.files  # IMMU_POST_FORMAT=audio
    assert "by Ann" in post.params["caption"]

    assert bot.stop() == 0  # nothing can arrive after this: now count
    assert len(tg.calls_to("sendAudio", chat_id=42)) == 3
    assert len([c for c in tg.calls_to("sendMessage", chat_id=42) if "pick:" in str(c.params)]) == 1
    assert len(tg.calls_to("sendAudio", chat_id="@immu_feed")) == 1
    assert _jobs(bot) == [("delivered", 2)]
    _clean_log(bot, tg)


def test_kill_9_between_two_audios_ends_with_one_result(tg: FakeTelegram, make_bot) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot().start()
    second = tg.hold("sendAudio", match=lambda p: "2 of 3" in str(p.get("caption")))
    tg.send_photo(tg.user(42, "Ann"), PHOTO)
    tg.wait_for(lambda: second.arrived, 180, "the second audio on its way")
    bot.kill()
    second.release()  # Telegram did send it, but the answer never reached the bot
    bot.start()
    tg.wait_for(lambda: results(tg, 42), 120, "the result after the restart")
    assert bot.stop() == 0
    assert len(results(tg, 42)) == 1
    titles = [m["audio"]["title"] for m in tg.chat_messages(42) if "audio" in m]
    # the one send whose answer was lost repeats once (README); nothing else does
    counts = Counter(title.split(".")[0] for title in titles)
    assert counts == {"1": 1, "2": 2, "3": 1}, titles
    _clean_log(bot, tg)


def test_a_restart_between_choice_and_post_posts_exactly_once(tg: FakeTelegram, make_bot) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot().start()
    ann = tg.user(42, "Ann")
    tg.send_photo(ann, PHOTO)
    result = tg.wait_for(lambda: results(tg, 42), 180, "delivered")[0]
    job = _job(result)
    tg.bot_is_channel_admin = False  # the channel refuses: the choice is kept
    tg.tap(ann, result, f"pick:{job}:2")
    tg.wait_for(lambda: any("cannot be reached right now" in p for p in popups(tg)), 30, "pending")
    bot.kill()
    tg.bot_is_channel_admin = True
    bot.start()
    tg.wait_for(lambda: [m for m in tg.chat_messages(CHANNEL_ID) if "video" in m], 60, "retried")
    tg.wait_for(lambda: any("now in the channel" in t for t in texts_to(tg, 42)), 30, "told")
    tg.tap(ann, result, f"pick:{job}:2")
    tg.wait_for(lambda: any("already in the channel" in p for p in popups(tg)), 30, "already")
    assert bot.stop() == 0
    assert len([m for m in tg.chat_messages(CHANNEL_ID) if "video" in m]) == 1
    _clean_log(bot, tg)


def test_the_command_says_a_refused_token_in_one_line(tg: FakeTelegram, make_bot) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot(TELEGRAM_BOT_TOKEN="123:wrong-token_SECRET")
    bot.start(wait_ready=False)
    assert bot.proc is not None and bot.proc.wait(120) == 2
    lines = [line for line in bot.log().splitlines() if line.startswith("immu:")]
    assert len(lines) == 1 and "Telegram refused TELEGRAM_BOT_TOKEN" in lines[0]
    assert "wrong-token_SECRET" not in bot.log() and "Traceback" not in bot.log()
    assert "Unclosed" not in bot.log()  # its connections to the Bot API closed on the way out
