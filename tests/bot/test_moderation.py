"""Moderation: the photo filter, review by operators, readers' reports, bans."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

import bot.public_text
from bot.pseudonym import uid
from bot.public_text import PublicText
from bot.settings import Settings
from bot.telegram.texts import CATALOGUE
from pipeline import Stage
from pipeline.model_text import (
    DEFAULT_BLOCKED_WORDS,
    any_blocked,
    blocked_in,
    blocked_pattern,
    unlinked,
)
from tests.fakes.composer import FakeComposer
from tests.fakes.telegram_server import FakeTelegram
from tests.support.harness import answers, caption_words, media_posts, popups, replies
from tests.support.inprocess import PHOTO, RunningBot, StartBot, buttons, job_of, nth_popup

EN = CATALOGUE["en"]
ROOM = -100_777  # the operators' group
ADMIN = 7


async def _reviewing(tg: FakeTelegram, start_bot: StartBot, **settings: Any) -> RunningBot:
    tg.groups[ROOM] = "IMMU operators"
    return await start_bot(
        FakeComposer(), moderation="review", review_chat=str(ROOM), admin_ids=[ADMIN], **settings
    )


async def _pick(bot: RunningBot, user: dict[str, Any], popup_no: int) -> str:
    result = await bot.deliver(user)
    bot.tg.tap(user, result, f"pick:{job_of(result)}:0")
    return await nth_popup(bot, popup_no)


# --- the photo filter (IMMU_MODERATION=auto) ---


async def test_an_unsafe_photo_is_refused_before_anything_is_composed(
    tg: FakeTelegram,
    start_bot: StartBot,
    tiny_models: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    composer = FakeComposer()
    caplog.set_level(logging.INFO, logger="bot.moderation")
    bot = await start_bot(
        composer,
        moderation="auto",
        safety_model=tiny_models["IMMU_SAFETY_MODEL"],
        safety_threshold=0.0,  # every score is at or above it: the tiny model finds all unsafe
    )
    ko = tg.user(43, "Min", language="ko")
    tg.send_photo(tg.user(42, "Ann"), PHOTO)
    tg.send_photo(ko, PHOTO)
    await bot.until(lambda: EN["unsafe_photo"] in replies(tg, 42), "refused in English")
    await bot.until(lambda: CATALOGUE["ko"]["unsafe_photo"] in replies(tg, 43), "in Korean")
    assert composer.requests == [] and bot.job_statuses() == []
    assert list((bot.data_dir / "photos").iterdir()) == []  # a refused photo is not kept
    screened = [r.getMessage() for r in caplog.records if "photo screened" in r.getMessage()]
    (ann_line,) = [line for line in screened if f"user={uid(42)}" in line]  # hashed ids
    assert len(screened) == 2 and "label=" in ann_line and "verdict=refused" in ann_line
    assert "42" not in ann_line.replace(uid(42), "")  # never the id itself


async def test_a_photo_under_the_threshold_is_composed(
    tg: FakeTelegram, start_bot: StartBot, tiny_models: dict[str, str]
) -> None:
    composer = FakeComposer()
    bot = await start_bot(
        composer,
        moderation="auto",
        safety_model=tiny_models["IMMU_SAFETY_MODEL"],
        safety_threshold=1.0,
    )
    await bot.deliver(tg.user(42, "Ann"))
    assert len(composer.requests) == 1 and EN["unsafe_photo"] not in answers(tg, 42)


async def test_a_photo_the_classifier_fails_on_is_not_kept_and_the_person_is_told(
    tg: FakeTelegram, start_bot: StartBot, tmp_path: Path
) -> None:
    composer = FakeComposer()
    bot = await start_bot(
        composer, moderation="auto", safety_model=_failing_classifier(tmp_path / "safety")
    )
    tg.send_photo(tg.user(42, "Ann"), PHOTO)
    tg.send_photo(tg.user(43, "Min", language="ko"), PHOTO)
    for user, lang in ((42, EN), (43, CATALOGUE["ko"])):
        ended = {lang["screening_failed"], lang["storage_failed"]}
        said = await bot.until(lambda: ended & set(replies(tg, user)), f"{user} told")  # noqa: B023
        assert said == {lang["screening_failed"]}  # not "the server could not save"
    assert composer.requests == [] and bot.job_statuses() == []
    # no photo stays on disk without a row that points to it
    assert list((bot.data_dir / "photos").iterdir()) == []
    assert not list(bot.data_dir.rglob("*.jpg*"))


def _failing_classifier(folder: Path) -> str:
    """A classifier that loads but fails on every photo: its processor makes images of a
    size its model does not take, as a mismatched download would."""
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    labels = {0: "normal", 1: "nsfw"}
    config = ViTConfig(image_size=16, patch_size=8, hidden_size=8, num_hidden_layers=1,
                       num_attention_heads=1, intermediate_size=8, id2label=labels,
                       label2id={v: k for k, v in labels.items()})  # fmt: skip
    ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 24, "width": 24}).save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize(
    ("moderation", "mood", "blocked_words", "withheld"),
    [
        ("auto", "casino lights", [], True),  # a word of the built-in list
        ("auto", "Glitter", ["glitter"], True),  # the operator's IMMU_BLOCKED_WORDS
        ("off", "casino lights", [], False),  # moderation off: links go, words stay
    ],
)
async def test_with_moderation_a_blocked_word_keeps_model_text_out_of_the_channel(
    tg: FakeTelegram,
    start_bot: StartBot,
    tiny_models: dict[str, str],
    moderation: str,
    mood: str,
    blocked_words: list[str],
    withheld: bool,
) -> None:
    composer = FakeComposer(description="warm piano over the sea", mood=mood)
    bot = await start_bot(
        composer, moderation=moderation, safety_model=tiny_models["IMMU_SAFETY_MODEL"],
        safety_threshold=1.0, blocked_words=blocked_words, post_format="audio",
    )  # fmt: skip
    ann = tg.user(42, "Ann")
    assert await _pick(bot, ann, 1) == EN["posted"]
    (post,) = await bot.until(lambda: media_posts(tg), "posted")
    if withheld:  # the track goes out; none of the model's words do
        assert caption_words(post["caption"]) == EN["post_caption_neutral"]
        assert post["audio"]["title"] == "IMMU"
    else:
        assert mood in post["caption"] and "warm piano" in post["caption"]


# --- review (IMMU_MODERATION=review) ---


async def test_review_approve_posts_once_and_only_admins_decide(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await _reviewing(tg, start_bot)
    ann, bob, admin = tg.user(42, "Ann"), tg.user(43, "Bob"), tg.user(ADMIN, "Op")
    assert await _pick(bot, ann, 1) == EN["review_waiting"]
    assert EN["review_waiting"] in answers(tg, 42)
    (held,) = await bot.until(lambda: media_posts(tg, ROOM), "the operators' copy")
    assert "video" in held and "Review: post 1 by user 42" in held["caption"]
    assert [b["callback_data"] for b in buttons(held)] == ["approve:1", "reject:1"]
    assert media_posts(tg) == [] and bot.db("SELECT status FROM posts") == [("review",)]

    tg.tap(bob, held, "approve:1")  # the right button, not an admin
    assert await nth_popup(bot, 2) == EN["admins_only"]
    assert media_posts(tg) == []

    tg.tap(admin, held, "approve:1")
    assert await nth_popup(bot, 3) == EN["decided"].format(decision="Approve")
    await bot.until(lambda: EN["review_approved"] in answers(tg, 42), "Ann told")
    assert len(media_posts(tg)) == 1 and bot.db("SELECT status FROM posts") == [("posted",)]

    tg.tap(admin, held, "approve:1")  # twice, and reject after approve: nothing changes
    tg.tap(admin, held, "reject:1")
    assert (await nth_popup(bot, 5)).startswith("Already decided")
    assert popups(tg)[3].startswith("Already decided")
    assert len(tg.calls_to("sendVideo", chat_id="@immu_feed")) == 1
    assert bot.db("SELECT status FROM posts") == [("posted",)]


async def test_review_reject_never_posts_and_the_person_is_told(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await _reviewing(tg, start_bot)
    ann, admin = tg.user(42, "Ann"), tg.user(ADMIN, "Op")
    result = await bot.deliver(ann)
    tg.tap(ann, result, f"pick:{job_of(result)}:0")
    assert await nth_popup(bot, 1) == EN["review_waiting"]
    (held,) = await bot.until(lambda: media_posts(tg, ROOM), "the operators' copy")
    tg.tap(admin, held, "reject:1")
    assert await nth_popup(bot, 2) == EN["decided"].format(decision="Reject")
    await bot.until(lambda: EN["review_declined"] in answers(tg, 42), "Ann told")
    tg.tap(admin, held, "approve:1")  # a change of mind after the decision: no
    assert (await nth_popup(bot, 3)).startswith("Already decided")
    tg.tap(ann, result, f"pick:{job_of(result)}:1")  # another track: no
    assert await nth_popup(bot, 4) == EN["post_declined"]
    assert media_posts(tg) == [] and bot.db("SELECT status FROM posts") == [("declined",)]


async def test_approve_after_forget_posts_nothing(tg: FakeTelegram, start_bot: StartBot) -> None:
    bot = await _reviewing(tg, start_bot)
    ann, admin = tg.user(42, "Ann"), tg.user(ADMIN, "Op")
    result = await bot.deliver(ann)
    tg.tap(ann, result, f"pick:{job_of(result)}:0")
    assert await nth_popup(bot, 1) == EN["review_waiting"]
    (held,) = await bot.until(lambda: media_posts(tg, ROOM), "the operators' copy")
    tg.tap(ann, result, "forget:42")
    assert await nth_popup(bot, 2) == EN["forgotten"]
    assert media_posts(tg, ROOM) == []  # Ann's photo left the operators' chat with her data
    tg.tap(admin, held, "approve:1")  # an operator's app that still showed it
    assert await nth_popup(bot, 3) == EN["decision_gone"]
    assert media_posts(tg) == [] and bot.db("SELECT COUNT(*) FROM posts") == [(0,)]


async def test_the_owner_withdraws_a_post_waiting_for_review(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await _reviewing(tg, start_bot)
    ann, admin = tg.user(42, "Ann"), tg.user(ADMIN, "Op")
    assert await _pick(bot, ann, 1) == EN["review_waiting"]
    (held,) = await bot.until(lambda: media_posts(tg, ROOM), "the operators' copy")
    tg.send_text(ann, "/delete")
    (menu,) = await bot.until(
        lambda: [m for m in tg.chat_messages(42) if "del:1" in str(m.get("reply_markup"))],
        "her held post offered for deletion",
    )
    assert (
        buttons(menu)[0]["text"].startswith("Delete: ") and "not public" in buttons(menu)[0]["text"]
    )
    tg.tap(ann, menu, "del:1")
    assert await nth_popup(bot, 2) == EN["deleted"]
    assert media_posts(tg, ROOM) == [] and bot.db("SELECT COUNT(*) FROM posts") == [(0,)]
    tg.tap(admin, held, "approve:1")  # an operator's app that still showed it
    assert await nth_popup(bot, 3) == EN["decision_gone"]
    assert media_posts(tg) == []


async def test_approve_again_after_delete_posts_nothing(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await _reviewing(tg, start_bot)
    ann, admin = tg.user(42, "Ann"), tg.user(ADMIN, "Op")
    result = await bot.deliver(ann)
    tg.tap(ann, result, f"pick:{job_of(result)}:0")
    assert await nth_popup(bot, 1) == EN["review_waiting"]
    (held,) = await bot.until(lambda: media_posts(tg, ROOM), "the operators' copy")
    tg.tap(admin, held, "approve:1")
    assert await nth_popup(bot, 2) == EN["decided"].format(decision="Approve")
    assert len(media_posts(tg)) == 1
    tg.tap(ann, result, "del:1")  # Ann deletes it from /delete
    assert await nth_popup(bot, 3) == EN["deleted"]
    assert media_posts(tg, ROOM) == []  # and the operators' copy of it
    tg.tap(admin, held, "approve:1")  # a second operator, on the same message
    assert await nth_popup(bot, 4) == EN["decision_gone"]
    assert media_posts(tg) == [] and len(tg.calls_to("sendVideo", chat_id="@immu_feed")) == 1


async def test_approve_after_a_restart_posts_once(tg: FakeTelegram, start_bot: StartBot) -> None:
    bot = await _reviewing(tg, start_bot)
    ann, admin = tg.user(42, "Ann"), tg.user(ADMIN, "Op")
    await _pick(bot, ann, 1)
    (held,) = await bot.until(lambda: media_posts(tg, ROOM), "the operators' copy")
    await bot.stop()

    again = await _reviewing(tg, start_bot)
    tg.tap(admin, held, "approve:1")
    assert await nth_popup(again, 2) == EN["decided"].format(decision="Approve")
    tg.tap(admin, held, "approve:1")
    assert (await nth_popup(again, 3)).startswith("Already decided")
    assert len(media_posts(tg)) == 1 and len(media_posts(tg, ROOM)) == 1  # not sent again


async def test_review_mode_needs_the_operators_chat(tmp_path: Any) -> None:
    from bot.app import StartupError, build_application
    from bot.settings import Settings

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, TELEGRAM_BOT_TOKEN="1:x", channel="@c", moderation="review"
    )
    with pytest.raises(StartupError, match="IMMU_REVIEW_CHAT"):
        build_application(settings)
    # a chat with nobody allowed to decide would hold every post forever
    with pytest.raises(StartupError, match="IMMU_ADMIN_IDS"):
        build_application(settings.model_copy(update={"review_chat": "-100123"}))


# --- reports ---


async def test_reports_take_a_post_down_at_the_threshold_and_operators_restore_it(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    tg.groups[ROOM] = "IMMU operators"
    bot = await start_bot(
        FakeComposer(), review_chat=str(ROOM), admin_ids=[ADMIN], reports_to_hide=2
    )
    ann, admin = tg.user(42, "Ann"), tg.user(ADMIN, "Op")
    readers = [tg.user(60 + i, f"R{i}") for i in range(3)]
    assert await _pick(bot, ann, 1) == EN["posted"]
    (post,) = await bot.until(lambda: media_posts(tg), "posted")
    assert {"text": "Report", "callback_data": "report:1"} in buttons(post)

    tg.tap(readers[0], post, "report:1")
    assert await nth_popup(bot, 2) == EN["reported"]
    tg.tap(readers[0], post, "report:1")  # one report per person
    assert await nth_popup(bot, 3) == EN["already_reported"]
    assert len(media_posts(tg)) == 1
    tg.tap(readers[1], post, "report:1")  # the second: the threshold
    assert await nth_popup(bot, 4) == EN["reported"]
    assert media_posts(tg) == [] and bot.db("SELECT status FROM posts") == [("hidden",)]
    await bot.until(lambda: EN["post_hidden"] in answers(tg, 42), "Ann told")
    (held,) = await bot.until(lambda: media_posts(tg, ROOM), "the operators' copy")
    assert "Reported 2 times" in held["caption"]
    assert [b["callback_data"] for b in buttons(held)] == ["restore:1", "remove:1"]

    tg.tap(admin, held, "restore:1")
    assert await nth_popup(bot, 5) == EN["decided"].format(decision="Restore")
    (back,) = await bot.until(lambda: media_posts(tg), "posted again")
    await bot.until(lambda: EN["post_restored"] in answers(tg, 42), "Ann told")
    tg.tap(readers[2], back, "report:1")  # the operators decided: more reports do not hide it
    assert await nth_popup(bot, 6) == EN["reported"]
    assert len(media_posts(tg)) == 1 and bot.db("SELECT status FROM posts") == [("posted",)]
    assert bot.db("SELECT COUNT(*) FROM reports") == [(3,)]
    reporters = {reporter for (reporter,) in bot.db("SELECT reporter FROM reports")}
    assert reporters == {uid(reader["id"]) for reader in readers}  # readers stay private


async def test_operators_remove_a_reported_post_for_good(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    tg.groups[ROOM] = "IMMU operators"
    bot = await start_bot(
        FakeComposer(), review_chat=str(ROOM), admin_ids=[ADMIN], reports_to_hide=1
    )
    ann, admin, reader = tg.user(42, "Ann"), tg.user(ADMIN, "Op"), tg.user(60, "Rex")
    await _pick(bot, ann, 1)
    (post,) = await bot.until(lambda: media_posts(tg), "posted")
    tg.tap(reader, post, "report:1")
    assert await nth_popup(bot, 2) == EN["reported"]
    (held,) = await bot.until(lambda: media_posts(tg, ROOM), "the operators' copy")
    tg.tap(reader, held, "remove:1")  # a reader who found the operators' message: no
    assert await nth_popup(bot, 3) == EN["admins_only"]
    tg.tap(admin, held, "remove:1")
    assert await nth_popup(bot, 4) == EN["decided"].format(decision="Remove for good")
    await bot.until(lambda: EN["post_removed_for_good"] in answers(tg, 42), "Ann told")
    assert media_posts(tg) == [] and bot.db("SELECT status FROM posts") == [("declined",)]


# --- bans ---


async def test_a_banned_person_is_refused_and_the_ban_survives_a_restart(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    gate = composer.hold(Stage.CAPTION)
    bot = await start_bot(composer, admin_ids=[ADMIN])
    ann, admin = tg.user(42, "Ann"), tg.user(ADMIN, "Op")
    tg.send_photo(ann, PHOTO)
    await gate.reached()
    tg.send_photo(ann, PHOTO)  # waits in line behind the first
    await bot.until(lambda: bot.job_statuses() == ["running", "queued"], "queued")
    await bot.until(lambda: len(answers(tg, 42)) >= 2, "both queued")

    tg.send_text(admin, "/ban 42")
    await bot.until(lambda: answers(tg, ADMIN), "the admin's answer")
    assert answers(tg, ADMIN)[0] == EN["ban_done"].format(user=42, jobs=1, posts=0)
    assert bot.job_statuses() == ["running", "cancelled"]
    await bot.until(lambda: tg.chat_messages(42)[-1].get("text") == EN["banned_queued"], "told")
    gate.release()
    await bot.result_for(42)  # a job already composing is delivered ...
    tg.send_photo(ann, PHOTO)
    await bot.until(lambda: EN["banned"] in replies(tg, 42), "refused")
    tg.send_text(admin, "/ban 42")  # another operator, not knowing
    already = EN["ban_already"].format(user=42, posts=0)
    await bot.until(lambda: already in answers(tg, ADMIN), "told it was already done")
    await bot.stop()

    again = await start_bot(composer, admin_ids=[ADMIN])
    tg.send_photo(ann, PHOTO)
    await again.until(lambda: replies(tg, 42).count(EN["banned"]) == 2, "still refused")
    assert len(composer.requests) == 1 and len(bot.job_statuses()) == 2

    tg.send_text(admin, "/unban 42")
    await again.until(lambda: EN["unban_done"].format(user=42) in answers(tg, ADMIN), "lifted")
    await again.deliver(ann)
    assert len(composer.requests) == 2


async def test_ban_with_purge_removes_the_posts_from_channel_and_store(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot(FakeComposer(), admin_ids=[ADMIN])
    ann, admin = tg.user(42, "Ann"), tg.user(ADMIN, "Op")
    await _pick(bot, ann, 1)
    await bot.until(lambda: media_posts(tg), "posted")
    tg.send_text(admin, "/ban 42 --purge")
    await bot.until(lambda: answers(tg, ADMIN), "the admin's answer")
    assert answers(tg, ADMIN)[0] == EN["ban_done"].format(user=42, jobs=0, posts=1)
    assert media_posts(tg) == [] and bot.db("SELECT COUNT(*) FROM posts") == [(0,)]
    assert bot.db("SELECT user_id FROM bans") == [(42,)]


async def test_only_admins_ban_and_bad_arguments_get_the_usage(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot(FakeComposer(), admin_ids=[ADMIN])
    bob, admin = tg.user(43, "Bob"), tg.user(ADMIN, "Op")
    tg.send_text(bob, "/ban 42 --purge")
    tg.send_text(bob, "/unban 42")
    await bot.until(lambda: len(answers(tg, 43)) == 2, "Bob's answers")
    assert answers(tg, 43) == [EN["admin_only"]] * 2
    for junk in ("/ban", "/ban ann", "/ban ²", "/ban 42 --all", "/ban " + "9" * 20):
        tg.send_text(admin, junk)
    await bot.until(lambda: len(answers(tg, ADMIN)) == 5, "usage answers")
    assert set(answers(tg, ADMIN)) == {EN["ban_usage"]}
    assert bot.db("SELECT COUNT(*) FROM bans") == [(0,)]


@pytest.mark.parametrize(
    "text",
    [
        "a calm harbour", "PORN", "ｐｏｒｎ", "pornography", "porno night", "a sexy tune",
        "essex folk", "sex_tape", "sex-tape", "x sex9", "café casino", "bet on crypto-coins",
        "포르노를", "카 지노", "free  money!", "freemoney", "", "nazi\nhitler", "a\u00a0nude",
        "ｎｓｆｗ", "rock'n'roll", "xxxl",
    ],
)  # fmt: skip
def test_the_one_pattern_finds_a_blocked_word_exactly_where_blocked_in_does(text: str) -> None:
    words = (*DEFAULT_BLOCKED_WORDS, "free money", "rock'n'roll", " ", "Ｃａｆé")
    assert any_blocked(text, blocked_pattern(words)) == bool(blocked_in(text, words))
    assert any_blocked(text, blocked_pattern(())) is False


def test_withholds_reads_each_posts_words_once(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def counted(value: str) -> str:
        seen.append(value)
        return unlinked(value)

    monkeypatch.setattr(bot.public_text, "unlinked", counted)
    public = PublicText(Settings(bot_token="1:x", channel="@c", moderation="auto", _env_file=None))
    post = ("waves at night", "ambient", "calm", "a harbour", "ambient, calm mood")
    blocked = ("a casino at night", "jazz", "calm", "a harbour", "jazz, calm mood")
    for _ in range(3):
        assert public.withholds(*post) is False and public.withholds(*blocked) is True
    assert len(seen) == 10  # five values of each post, read the first time only
