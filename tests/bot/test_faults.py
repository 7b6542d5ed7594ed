"""Telegram faults, limits and bad configuration: clear outcomes, no crash, nothing twice."""

from __future__ import annotations

import subprocess
import time

import pytest

from bot.texts import CATALOGUE
from tests.bot.harness import BotProcess, popups, results, texts_to
from tests.conftest import EXAMPLE_PHOTO
from tests.fakes.telegram_server import FakeTelegram

PHOTO = EXAMPLE_PHOTO.read_bytes()


def test_rate_limits_server_errors_and_lost_messages_still_deliver_once(
    tg: FakeTelegram, make_bot
) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot().start()
    tg.fail("sendAudio", 429, "Too Many Requests: retry after 1", retry_after=1, times=2)
    tg.fail(
        "sendMessage", 502, "Bad Gateway", match=lambda p: "pick:" in str(p.get("reply_markup"))
    )
    tg.fail("editMessageText", 400, "Bad Request: message to edit not found", times=3)
    ann = tg.user(42, "Ann")
    tg.send_photo(ann, PHOTO)
    tg.wait_for(lambda: results(tg, 42), 180, "delivery despite faults")
    time.sleep(2)
    assert len(tg.chat_messages(42)) == 1 + 1 + 3 + 1  # photo, status, 3 audios, keyboard
    assert len(results(tg, 42)) == 1
    # the channel refuses for a while: the choice waits and is posted once it can
    result = results(tg, 42)[0]
    job = result["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(":")[1]
    tg.fail("sendVideo", 403, "Forbidden: bot is not a member of the channel chat", times=2)
    tg.tap(ann, result, f"pick:{job}:0")
    tg.wait_for(lambda: any("cannot be reached right now" in p for p in popups(tg)), 30, "kept")
    tg.wait_for(
        lambda: [m for m in tg.chat_messages(-1001234567890) if "video" in m], 60, "posted later"
    )
    tg.wait_for(lambda: any("now in the channel" in t for t in texts_to(tg, 42)), 30, "told")
    assert bot.proc is not None and bot.proc.poll() is None


def test_a_person_who_blocked_the_bot_does_not_stop_others(tg: FakeTelegram, make_bot) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot().start()
    tg.fail(
        "sendAudio",
        403,
        "Forbidden: bot was blocked by the user",
        match=lambda p: str(p.get("chat_id")) == "42",
        times=99,
    )
    tg.send_photo(tg.user(42, "Gone"), PHOTO)
    tg.send_photo(tg.user(43, "Here"), PHOTO)
    tg.wait_for(lambda: results(tg, 43), 180, "the other person served")
    assert results(tg, 42) == []
    assert "blocked" in bot.log() and "Traceback" not in bot.log()


def test_limits_per_person_per_day_and_queue(tg: FakeTelegram, make_bot) -> None:  # type: ignore[no-untyped-def]
    make_bot(
        IMMU_STEPS="12", IMMU_MAX_JOBS_PER_USER="1", IMMU_MAX_PHOTOS_PER_DAY="2", IMMU_MAX_QUEUE="2"
    ).start()
    ann, bob, cy = tg.user(42, "Ann"), tg.user(43, "Bob"), tg.user(44, "Cy", language="ko")
    tg.send_photo(ann, PHOTO)
    tg.wait_for(lambda: texts_to(tg, 42), 30, "first")
    tg.send_photo(ann, PHOTO)
    tg.wait_for(lambda: len(texts_to(tg, 42)) >= 2, 30, "second")
    assert any(t == CATALOGUE["en"]["limit_in_flight"].format(n=1) for t in texts_to(tg, 42))
    tg.send_photo(bob, PHOTO)
    tg.wait_for(lambda: texts_to(tg, 43), 30, "bob")
    tg.send_photo(cy, PHOTO)  # the queue holds 2: Cy is asked to come back
    tg.wait_for(lambda: texts_to(tg, 44), 30, "cy")
    assert texts_to(tg, 44) == [CATALOGUE["ko"]["busy"]]
    tg.wait_for(lambda: len(results(tg, 42)) == 1, 240, "ann's first")
    tg.send_photo(ann, PHOTO)  # second of the day: fine once the first is done
    tg.wait_for(
        lambda: sum("Queued" in t for t in texts_to(tg, 42)) == 2, 60, "ann's second accepted"
    )
    tg.wait_for(lambda: len(results(tg, 42)) == 2, 240, "ann's second")
    tg.send_photo(ann, PHOTO)  # third of the day: refused
    tg.wait_for(lambda: CATALOGUE["en"]["limit_daily"].format(n=2) in texts_to(tg, 42), 30, "daily")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"TELEGRAM_BOT_TOKEN": ""}, "TELEGRAM_BOT_TOKEN is not set"),
        ({"TELEGRAM_BOT_TOKEN": "123:wrong"}, "Telegram refused TELEGRAM_BOT_TOKEN"),
        ({"IMMU_CHANNEL": "@nowhere"}, "channel @nowhere cannot be reached"),
        ({"IMMU_CHANNEL": ""}, "IMMU_CHANNEL is not set"),
        ({"TELEGRAM_API_URL": "http://127.0.0.1:9"}, "cannot reach the Bot API"),
        ({"_not_admin": "1"}, "must be an administrator"),
    ],
)
def test_a_bad_configuration_is_one_clear_line(
    tg: FakeTelegram, tiny_models, tmp_path, change, message
) -> None:  # type: ignore[no-untyped-def]
    tg.bot_is_channel_admin = "_not_admin" not in change
    bot = BotProcess(
        tg, tiny_models, tmp_path / "data", **{k: v for k, v in change.items() if k != "_not_admin"}
    )
    bot.start(wait_ready=False)
    assert bot.proc is not None
    try:
        code = bot.proc.wait(60)
    except subprocess.TimeoutExpired:
        bot.proc.kill()
        raise
    lines = [line for line in bot.log().splitlines() if line.startswith("immu:")]
    assert code == 2
    assert len(lines) == 1 and message in lines[0]
    assert "Traceback" not in bot.log()
    assert tg.token.split(":")[1] not in bot.log()


def test_markup_and_huge_text_from_models_and_names_post_fine(
    tg: FakeTelegram, make_bot, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    fake_openai.mode = "markup"
    make_bot(IMMU_LLM_API_KEY="test-key", IMMU_LLM_BASE_URL=fake_openai.base_url).start()
    name = "<b>Eve</b> & <a href='x'>" + "E" * 5000
    eve = tg.user(45, name)
    tg.send_text(eve, "/anonymous")
    tg.send_photo(eve, PHOTO)
    result = tg.wait_for(lambda: results(tg, 45), 180, "delivered")[0]
    assert (
        "&lt;script&gt;" in result["text"]
    )  # the fake refuses unescaped HTML, so this got through
    job = result["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(":")[1]
    tg.tap(eve, result, f"pick:{job}:0")
    post = tg.wait_for(lambda: tg.calls_to("sendVideo"), 60, "posted")[0]
    caption = post.params["caption"]
    assert len(caption) <= 1024
    assert "&lt;i&gt;jazz&lt;/i&gt;" in caption and "&lt;b&gt;Eve&lt;/b&gt; &amp;" in caption
    assert [m for m in tg.chat_messages(-1001234567890) if "video" in m]


def test_admin_commands_by_user_id_only(tg: FakeTelegram, make_bot) -> None:  # type: ignore[no-untyped-def]
    make_bot(IMMU_ADMIN_IDS="7,8").start()
    tg.send_text(tg.user(42, "Ann"), "/stats")
    tg.send_text(tg.user(8, "Op"), "/stats")
    tg.wait_for(lambda: texts_to(tg, 42) and texts_to(tg, 8), 30, "answers")
    assert texts_to(tg, 42) == [CATALOGUE["en"]["admin_only"]]
    assert "users: 2" in texts_to(tg, 8)[0] and "in_line: 0" in texts_to(tg, 8)[0]


def test_a_telegram_timeout_ends_with_the_result_delivered(tg: FakeTelegram, make_bot) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot().start()
    tg.slow("sendAudio", 8)  # longer than the client's 5 s read timeout
    tg.send_photo(tg.user(42, "Ann"), PHOTO)
    tg.wait_for(lambda: results(tg, 42), 180, "delivered after a timeout")
    time.sleep(1)
    audios = [m for m in tg.chat_messages(42) if "audio" in m]
    assert len(results(tg, 42)) == 1
    assert 3 <= len(audios) <= 4  # the timed-out send may have happened: README's window
    assert bot.proc is not None and bot.proc.poll() is None
