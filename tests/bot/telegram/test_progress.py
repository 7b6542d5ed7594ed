"""The status message: one per job, edited as the job moves, never faster than allowed."""

from __future__ import annotations

from functools import partial
from typing import Any

from bot.telegram.texts import CATALOGUE
from pipeline import Stage
from tests.fakes.composer import FakeComposer
from tests.fakes.telegram_server import FakeTelegram
from tests.support.harness import texts_to
from tests.support.inprocess import PHOTO, RunningBot, StartBot

STAGES = [
    (Stage.CAPTION, None, "stage_caption"),
    (Stage.BRIEF, None, "stage_brief"),
    (Stage.MUSIC, 2, "stage_music"),
    (Stage.AUDIO, None, "stage_audio"),
    (Stage.ENCODE, None, "stage_encode"),
]


def _edits(tg: FakeTelegram, chat_id: int) -> list[str]:
    return [str(c.params["text"]) for c in tg.calls_to("editMessageText", chat_id=chat_id)]


def _edited(tg: FakeTelegram, chat_id: int, text: str) -> bool:
    return text in _edits(tg, chat_id)


async def _walk(bot: RunningBot, composer: FakeComposer, user: dict[str, Any], lang: str) -> None:
    """Send a photo and stop the job at each stage until its text is on the screen."""
    tg, texts = bot.tg, CATALOGUE[lang]
    gates = [(composer.hold(stage, step=step), key) for stage, step, key in STAGES]
    tg.send_photo(user, PHOTO)
    await bot.until(lambda: texts_to(tg, user["id"]), "queued")
    for gate, key in gates:
        await gate.reached()
        shown = texts[key].format(step=2, total=3)
        await bot.until(partial(_edited, tg, user["id"], shown), f"{lang}: {shown}")
        gate.release()
    await bot.result_for(user["id"])
    await bot.until(lambda: texts["delivered"] in _edits(tg, user["id"]), f"{lang}: done")


async def test_each_stage_shows_in_the_status_message_in_the_persons_language(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer(steps=3)
    bot = await start_bot(composer)
    for user, lang in ((tg.user(42, "Ann"), "en"), (tg.user(43, "민지", language="ko"), "ko")):
        await _walk(bot, composer, user, lang)
        status = tg.chat_messages(user["id"])[1]  # after the photo: the one status message
        edited = {
            c.params["message_id"] for c in tg.calls_to("editMessageText", chat_id=user["id"])
        }
        assert edited == {status["message_id"]}
        assert tg.chat_messages(user["id"])[1]["text"] == CATALOGUE[lang]["delivered"]


async def test_a_burst_of_progress_is_one_edit_per_interval(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer(steps=50)  # 55 progress events in a burst
    encode = composer.hold(Stage.ENCODE)
    bot = await start_bot(composer, progress_edit_s=600)  # no second edit within a test
    tg.send_photo(tg.user(42, "Ann"), PHOTO)
    await encode.reached()
    await bot.until(lambda: _edits(tg, 42), "the first progress edit")
    encode.release()
    await bot.result_for(42)
    await bot.until(lambda: CATALOGUE["en"]["delivered"] in _edits(tg, 42), "done")
    queued, progress, done = _edits(tg, 42)  # "got it" became "queued", then one edit
    assert queued == CATALOGUE["en"]["queued"].format(position=1)
    assert progress != done and done == CATALOGUE["en"]["delivered"]


async def test_a_status_message_the_person_deleted_does_not_stop_the_job(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    caption = composer.hold(Stage.CAPTION)
    bot = await start_bot(composer)
    tg.send_photo(tg.user(42, "Ann"), PHOTO)
    await caption.reached()
    await bot.until(lambda: _edits(tg, 42), "the first progress edit")
    status = tg.chat_messages(42)[1]
    tg.delete_by_user(42, status["message_id"])
    caption.release()
    await bot.result_for(42)
    await bot.until(lambda: bot.job_statuses() == ["delivered"], "delivered")
    # the tracks and the choice arrived; no new status message replaced the deleted one
    sent = [c.params.get("text") for c in tg.calls_to("sendMessage", chat_id=42)]
    received = CATALOGUE["en"]["received"]  # "got it", edited to "queued", then the choice
    assert len(sent) == 2 and sent[0] == received
    assert len(tg.calls_to("sendAudio", chat_id=42)) == 3
