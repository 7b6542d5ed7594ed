"""What reports, bans and takedowns can do to the feed, and what they cannot.

A handful of throwaway accounts must not remove a post for good, nor hide one that no
operator is told about; a ban stops every way a person's post could still go out; a post
that leaves the channel takes the remixes still waiting for it along.
"""

from __future__ import annotations

from typing import Any

from bot.telegram.texts import CATALOGUE
from pipeline import Stage
from tests.fakes.composer import FakeComposer
from tests.fakes.telegram_server import FakeTelegram
from tests.support.harness import answers, media_posts, popups, texts_to
from tests.support.inprocess import PHOTO, RunningBot, StartBot, job_of, nth_popup

EN, KO = CATALOGUE["en"], CATALOGUE["ko"]
ROOM = -100_777  # the operators' group
ADMIN = 7


def _to_room(params: dict[str, Any]) -> bool:
    return str(params.get("chat_id")) == str(ROOM)


async def _with_operators(tg: FakeTelegram, start_bot: StartBot, **settings: Any) -> RunningBot:
    tg.groups[ROOM] = "IMMU operators"
    return await start_bot(
        settings.pop("composer", None), review_chat=str(ROOM), admin_ids=[ADMIN], **settings
    )


async def _posted(bot: RunningBot, user: dict[str, Any]) -> dict[str, Any]:
    """The person's photo, composed, picked and in the channel: the channel message."""
    result = await bot.deliver(user)
    before, answered = len(media_posts(bot.tg)), len(popups(bot.tg))
    bot.tg.tap(user, result, f"pick:{job_of(result)}:0")
    posts = await bot.until(lambda: media_posts(bot.tg)[before:], "in the channel")
    # the tap's own answer comes after the post: wait, so later popups keep their order
    await bot.until(lambda: len(popups(bot.tg)) > answered, "the pick answered")
    return posts[0]


async def _ban(bot: RunningBot, user_id: int) -> None:
    said = len(answers(bot.tg, ADMIN))
    bot.tg.send_text(bot.tg.user(ADMIN, "Op"), f"/ban {user_id}")
    await bot.until(lambda: len(answers(bot.tg, ADMIN)) > said, "the ban answered")


# --- reports ---


async def test_three_fresh_accounts_cannot_take_a_post_down_with_the_default_settings(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot()  # no IMMU_ADMIN_IDS, no IMMU_REVIEW_CHAT, 3 reports to hide
    ann = tg.user(42, "Ann")
    post = await _posted(bot, ann)
    told_ann = texts_to(tg, 42)
    for n, reader in enumerate(tg.user(900 + i, f"Throwaway{i}") for i in range(3)):
        tg.tap(reader, post, "report:1")  # accounts that never used the bot
        assert await nth_popup(bot, n + 2) == EN["report_kept"]
    assert media_posts(tg) == [post] and bot.db("SELECT status FROM posts") == [("posted",)]
    assert tg.calls_to("deleteMessage") == [] and tg.calls_to("editMessageMedia") == []
    assert texts_to(tg, 42) == told_ann  # nothing said to Ann, least of all "taken down"
    assert bot.db("SELECT COUNT(*) FROM reports") == [(3,)]
    await bot.stop()

    again = await start_bot(admin_ids=[ADMIN])  # an operator, added later
    tg.send_text(tg.user(ADMIN, "Op"), "/stats")
    stats = await again.until(lambda: answers(tg, ADMIN), "the stats")
    assert "posts with reports: 1, most reported: post 1 with 3" in stats[0]


async def test_a_banned_persons_reports_never_count(tg: FakeTelegram, start_bot: StartBot) -> None:
    bot = await _with_operators(tg, start_bot, reports_to_hide=2)
    post = await _posted(bot, tg.user(42, "Ann"))
    troll, reader, banned = tg.user(60, "Troll"), tg.user(61, "Rex"), tg.user(62, "Bob")
    tg.tap(troll, post, "report:1")
    assert await nth_popup(bot, 2) == EN["reported"]
    await _ban(bot, 60)  # their report goes with them
    await _ban(bot, 62)
    tg.tap(banned, post, "report:1")
    assert await nth_popup(bot, 3) == EN["report_banned"]
    tg.tap(reader, post, "report:1")  # the only report that counts: one of two
    assert await nth_popup(bot, 4) == EN["reported"]
    assert media_posts(tg) == [post] and bot.db("SELECT status FROM posts") == [("posted",)]
    assert media_posts(tg, ROOM) == [] and bot.db("SELECT COUNT(*) FROM reports") == [(1,)]


async def test_a_post_no_operator_is_told_about_stays_in_the_channel(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await _with_operators(tg, start_bot, reports_to_hide=1)
    post = await _posted(bot, tg.user(42, "Ann"))
    tg.fail("sendVideo", 403, "Forbidden: bot was kicked from the group chat", match=_to_room)
    tg.tap(tg.user(60, "Rex"), post, "report:1")
    assert await nth_popup(bot, 2) == EN["reported"]
    assert media_posts(tg) == [post] and bot.db("SELECT status FROM posts") == [("posted",)]
    assert EN["post_hidden"] not in answers(tg, 42)

    tg.tap(tg.user(61, "Sam"), post, "report:1")  # the operators' chat is back: now it goes
    assert await nth_popup(bot, 3) == EN["reported"]
    (held,) = await bot.until(lambda: media_posts(tg, ROOM), "the operators' copy")
    assert media_posts(tg) == [] and bot.db("SELECT status FROM posts") == [("hidden",)]
    assert "Reported 2" in held["caption"]
    await bot.until(lambda: EN["post_hidden"] in answers(tg, 42), "Ann told")


async def test_a_hidden_post_nobody_decides_on_comes_back_once_by_itself(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await _with_operators(tg, start_bot, reports_to_hide=1)
    post = await _posted(bot, tg.user(42, "Ann", language="ko"))
    tg.tap(tg.user(60, "Rex"), post, "report:1")
    assert await nth_popup(bot, 2) == EN["reported"]
    (held,) = await bot.until(lambda: media_posts(tg, ROOM), "the operators' copy")
    assert media_posts(tg) == [] and bot.db("SELECT status FROM posts") == [("hidden",)]
    await bot.stop()  # nobody decides; a restart in between changes nothing

    composer = FakeComposer()
    again = await _with_operators(tg, start_bot, composer=composer, report_review_h=0.0001)
    (back,) = await again.until(lambda: media_posts(tg), "back in the channel")
    await again.until(lambda: KO["post_back_unreviewed"] in answers(tg, 42), "Ann told")
    expired = EN["operators_report_expired"].format(post=1, hours="0.0001")
    await again.until(lambda: expired in answers(tg, ROOM), "the operators told")
    closed = tg.calls_to("editMessageReplyMarkup", message_id=held["message_id"])
    assert [str(c.params["chat_id"]) for c in closed] == [str(ROOM)]  # no buttons left
    await composer.alive_asked(3)  # rounds of the background loops went by
    assert len(media_posts(tg)) == 1 and bot.db("SELECT status FROM posts") == [("posted",)]
    assert answers(tg, 42).count(KO["post_back_unreviewed"]) == 1

    tg.tap(tg.user(61, "Sam"), back, "report:1")  # it came back: reports do not hide it again
    assert await nth_popup(again, 3) == EN["reported"]
    assert media_posts(tg) == [back] and len(media_posts(tg, ROOM)) == 1


# --- bans ---


async def test_a_pending_post_of_someone_banned_meanwhile_never_reaches_the_channel(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot(admin_ids=[ADMIN])
    ann = tg.user(42, "Ann")
    result = await bot.deliver(ann)
    tg.bot_is_channel_admin = False  # the channel refuses: the choice waits for the retry loop
    tg.tap(ann, result, f"pick:{job_of(result)}:0")
    assert await nth_popup(bot, 1) == EN["post_pending"]
    await _ban(bot, 42)
    tg.bot_is_channel_admin = True
    await bot.until(lambda: bot.db("SELECT status FROM posts") == [("declined",)], "refused")
    assert media_posts(tg) == []
    assert not {EN["posted"], EN["post_retry_done"]} & set(texts_to(tg, 42))


async def test_approving_a_banned_persons_post_declines_it(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await _with_operators(tg, start_bot, moderation="review")
    ann, admin = tg.user(42, "Ann"), tg.user(ADMIN, "Op")
    result = await bot.deliver(ann)
    tg.tap(ann, result, f"pick:{job_of(result)}:0")
    assert await nth_popup(bot, 1) == EN["review_waiting"]
    (held,) = await bot.until(lambda: media_posts(tg, ROOM), "the operators' copy")
    await _ban(bot, 42)
    assert bot.db("SELECT status FROM posts") == [("declined",)]
    closed = tg.calls_to("editMessageReplyMarkup", message_id=held["message_id"])
    assert [str(c.params["chat_id"]) for c in closed] == [str(ROOM)]  # its buttons are gone
    told_ann = texts_to(tg, 42)
    for n in (2, 3):  # an operator's app that still shows them, tapped twice
        tg.tap(admin, held, "approve:1")
        assert await nth_popup(bot, n) == EN["decision_owner_banned"].format(user=42)
    assert media_posts(tg) == [] and bot.db("SELECT status FROM posts") == [("declined",)]
    assert texts_to(tg, 42) == told_ann  # neither "approved" nor "it will be posted"


# --- remixes of a post that leaves the channel ---


async def test_hiding_a_post_ends_its_queued_remixes_and_holds_back_its_remixes(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    bot = await _with_operators(tg, start_bot, composer=composer, reports_to_hide=1)
    admin, rex, min_ = tg.user(ADMIN, "Op"), tg.user(60, "Rex"), tg.user(61, "Min", language="ko")
    post = await _posted(bot, tg.user(42, "Ann"))
    tg.send_text(rex, "/start remix-1")
    remix = await bot.result_for(60)  # Rex's remix is delivered, not yet posted
    gate = composer.hold(Stage.CAPTION)
    tg.send_photo(tg.user(43, "Bob"), PHOTO)  # Bob's job holds the lane
    await gate.reached()
    tg.send_text(min_, "/start remix-1")  # Min's remix waits in line behind it
    await bot.until(lambda: answers(tg, 61), "Min queued")

    tg.tap(tg.user(70, "Reader"), post, "report:1")
    assert await nth_popup(bot, 2) == EN["reported"]
    assert media_posts(tg) == []
    await bot.until(lambda: KO["remix_gone"] in texts_to(tg, 61), "Min told, in Korean")
    assert bot.db("SELECT status FROM jobs WHERE user_id = 61") == [("cancelled",)]
    tg.tap(rex, remix, f"pick:{job_of(remix)}:0")
    assert await nth_popup(bot, 3) == EN["remix_not_public"]
    gate.release()
    await bot.result_for(43)
    assert len(composer.requests) == 3  # Ann's, Rex's and Bob's: Min's never composed
    assert media_posts(tg) == [] and bot.db("SELECT COUNT(*) FROM posts") == [(1,)]

    (held,) = media_posts(tg, ROOM)
    tg.tap(admin, held, "restore:1")  # the original is back: so may its remixes be
    assert await nth_popup(bot, 4) == EN["decided"].format(decision="Restore")
    tg.tap(rex, remix, f"pick:{job_of(remix)}:0")
    assert await nth_popup(bot, 5) == EN["posted"]
    assert len(media_posts(tg)) == 2


async def test_a_remix_composed_again_after_its_original_was_hidden_ends_clearly(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    bot = await _with_operators(tg, start_bot, composer=composer, reports_to_hide=1)
    rex = tg.user(60, "Rex")
    post = await _posted(bot, tg.user(42, "Ann"))
    gate = composer.hold(Stage.CAPTION)
    composer.fail_next(1, RuntimeError("worker lost"))  # Rex's first try fails, after the gate
    tg.send_text(rex, "/start remix-1")
    await gate.reached()  # being composed: not in line, so nothing cancels it
    tg.tap(tg.user(70, "Reader"), post, "report:1")
    assert await nth_popup(bot, 2) == EN["reported"]
    assert bot.db("SELECT status FROM posts") == [("hidden",)]
    gate.release()  # the try fails; the next one finds the original hidden
    await bot.until(lambda: EN["remix_gone"] in texts_to(tg, 60), "Rex told")
    # the remix ended, and its copy of the original's photo went with it (Rex is told
    # first, so the rows go just after the message)
    await bot.until(
        lambda: bot.db("SELECT COUNT(*) FROM jobs WHERE user_id = 60") == [(0,)], "gone"
    )
    (ann_photo,) = bot.db("SELECT photo_path FROM jobs WHERE user_id = 42")[0]
    assert list((bot.data_dir / "photos").iterdir()) == [bot.data_dir / ann_photo]
    assert len(composer.requests) == 2 and tg.calls_to("sendAudio", chat_id=60) == []
