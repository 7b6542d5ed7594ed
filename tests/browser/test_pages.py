"""The Mini App's pages as people use them, in Debian's headless Chromium against the real
bot (its JSON API, its media) and the fake Bot API, with axe-core checking every page.

The module's fixtures (conftest.py) start one bot and one browser and make six public
posts by three people through the chat, as people make them: a photo, a pick, a remix.
Each test opens the page as Telegram does, at ``/app/`` with the launch parameters in
the URL fragment (``tests/support/webapp.py`` signs the initData).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from playwright.async_api import Page, expect

from bot.telegram.texts import CATALOGUE
from tests.fakes.telegram_server import CHANNEL_ID
from tests.support.harness import keyboard_message, popups
from tests.support.inprocess import CHANNEL, RunningBot
from tests.support.webapp import launch_fragment, sign_init_data

pytestmark = pytest.mark.asyncio(loop_scope="module")

EN, KO = CATALOGUE["en"], CATALOGUE["ko"]
ANN, BO, CY = 42, 43, 44
NAMES = {ANN: ("Ann", "en"), BO: ("Bo", "ko"), CY: ("Cy", "en")}
REOPEN = "Open the app from Telegram again."
WAIT_MS = 15_000
PUBLIC = "SELECT id FROM posts WHERE status = 'posted' {where} ORDER BY id DESC"

expect.set_options(timeout=WAIT_MS)


def app_url(bot: RunningBot, user_id: int, start_param: str | None = None, **signing: Any) -> str:
    """The page as Telegram opens it for this person: signed launch data in the fragment."""
    name, language = NAMES[user_id]
    init_data = sign_init_data(
        bot.tg.token, user_id, name, language_code=language, start_param=start_param, **signing
    )
    return f"http://127.0.0.1:{bot.settings.webapp_port}/app/" + launch_fragment(
        init_data, start_param
    )


def public_ids(bot: RunningBot, where: str = "", *params: Any) -> list[int]:
    return [row[0] for row in bot.db(PUBLIC.format(where=where), *params)]


async def shown_ids(page: Page, list_selector: str) -> list[int]:
    articles = page.locator(f"{list_selector} > li > article")
    return [int(value) for value in await articles.evaluate_all("a => a.map(x => x.dataset.post)")]


async def open_feed(page: Page, bot: RunningBot, user_id: int = ANN) -> None:
    await page.goto(app_url(bot, user_id))
    await expect(page.locator("#feed-list > li")).to_have_count(len(public_ids(bot)))
    await expect(page.locator("#feed-list")).to_have_attribute("aria-busy", "false")


async def check_axe(page: Page, axe_source: str, what: str) -> None:
    """axe-core on the page as it is now: no violation of impact serious or critical."""
    if not await page.evaluate("typeof window.axe === 'object'"):
        await page.add_script_tag(content=axe_source)
    violations = await page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)}))"""
    )
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert serious == [], f"axe on {what}: {serious}"


async def screenshot(page: Page, name: str, folders: list[Path]) -> None:
    """The whole page, every cover loaded (lazy ones too: the window is made as tall as
    the page first)."""
    size = page.viewport_size
    assert size is not None
    height = await page.evaluate("document.documentElement.scrollHeight")
    await page.set_viewport_size({"width": size["width"], "height": height})
    await page.wait_for_function(
        "[...document.images].filter(i => i.offsetParent).every(i => i.complete && i.naturalWidth)"
    )
    await page.evaluate(  # decoded and painted, not only fetched
        """() => Promise.all([...document.images].map(i => i.decode().catch(() => null)))
            .then(() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done))))"""
    )
    png = await page.screenshot(full_page=True, animations="disabled", caret="hide")
    await page.set_viewport_size(size)
    for folder in folders:
        (folder / f"{name}.png").write_bytes(png)


async def test_the_feed_shows_the_posts_newest_first_with_cover_player_words_and_likes(
    page: Page,
    bot: RunningBot,
    made: dict[str, Any],
    axe_source: str,
    screenshot_folders: list[Path],
) -> None:
    await open_feed(page, bot)
    assert await page.evaluate("document.documentElement.lang") == "en"
    expected = public_ids(bot)
    assert len(expected) >= 4 and await shown_ids(page, "#feed-list") == expected
    by_id = {post.id: post for post in made.values()}
    for post_id in expected:
        post = by_id[post_id]
        article = page.locator(f'#feed-list article[data-post="{post_id}"]')
        await expect(article.locator("h3")).to_have_text(post.genre)
        # the plain-language description: visible, and the article's accessible description
        await expect(article).to_have_accessible_description(post.description)
        await expect(article.locator(".description")).to_have_text(post.description)
        await expect(article.locator("img")).to_have_attribute(
            "alt", f"Cover photo: {post.photo_words}"
        )
        await expect(article.locator("audio")).to_have_attribute("preload", "none")
        await expect(article.locator(".meta")).to_contain_text(f"Mood: {post.mood}")
        ((likes, message),) = bot.db(
            "SELECT likes, channel_message_id FROM posts WHERE id = ?", post_id
        )
        await expect(article.locator(".likes")).to_have_text(
            f"{likes} like" + ("" if likes == 1 else "s")
        )
        link = article.get_by_role("link", name="See it in the channel")
        await expect(link).to_have_attribute("href", f"https://t.me/immu_feed/{message}")
        author = {ANN: "by Ann", BO: "by Bo"}.get(post.user_id)  # Cy shows no name
        await expect(article.locator(".meta button")).to_have_count(1 if author else 0)
        if author:
            await expect(article.locator(".meta button")).to_have_text(author)
    await check_axe(page, axe_source, "the feed")
    await screenshot(page, "feed", screenshot_folders)

    await page.get_by_role("button", name="This week's top").click()
    await expect(page.get_by_role("heading", level=2, name="This week's top")).to_be_focused()
    liked = [made["sunset"].id, made["remix"].id, made["market"].id]  # 3, 2 and 1 likes
    await expect(page.locator("#top-list > li")).to_have_count(len(liked))
    assert await shown_ids(page, "#top-list") == liked
    await check_axe(page, axe_source, "this week's top")


async def test_a_filter_narrows_the_feed_and_clearing_it_brings_every_post_back(
    page: Page, bot: RunningBot, made: dict[str, Any]
) -> None:
    await open_feed(page, bot)

    def having(key: str, value: str) -> list[int]:
        chosen = {post.id for post in made.values() if getattr(post, key) == value}
        return [post_id for post_id in public_ids(bot) if post_id in chosen]

    await page.get_by_label("Mood").select_option("bright")
    bright = having("mood", "bright")
    assert bright and len(bright) < len(public_ids(bot))
    await expect(page.locator("#feed-list > li")).to_have_count(len(bright))
    assert await shown_ids(page, "#feed-list") == bright
    await expect(page.get_by_role("status")).to_have_text(f"{len(bright)} tracks shown.")

    await page.get_by_label("Mood").select_option("")
    await page.get_by_label("Genre").select_option("bossa nova")
    bossa = having("genre", "bossa nova")
    await expect(page.locator("#feed-list > li")).to_have_count(len(bossa))
    assert await shown_ids(page, "#feed-list") == bossa

    await page.get_by_role("button", name="Clear filters").click()
    await expect(page.locator("#feed-list > li")).to_have_count(len(public_ids(bot)))
    assert await shown_ids(page, "#feed-list") == public_ids(bot)


async def test_more_posts_load_as_the_person_scrolls_and_with_the_load_more_button(
    page: Page, bot: RunningBot, made: dict[str, Any]
) -> None:
    async def two_a_page(route: Any) -> None:  # the server's paging, two posts a page
        await route.continue_(url=route.request.url.replace("limit=12", "limit=2"))

    await page.route("**/app/api/feed?*", two_a_page)
    await page.set_viewport_size({"width": 420, "height": 240})  # two posts overflow it
    await page.goto(app_url(bot, ANN))
    everything = public_ids(bot)
    await expect(page.locator("#feed-list > li")).to_have_count(2)
    await expect(page.get_by_role("status")).to_have_text("2 tracks shown.")
    more = page.get_by_role("button", name="Load more")
    await more.focus()
    await page.keyboard.press("Enter")  # for keyboards and screen readers
    third = page.locator("#feed-list > li").nth(2).locator("h3 button")
    await expect(third).to_be_focused()  # on the first post that came in
    ids = await shown_ids(page, "#feed-list")  # more may come in as the focus scrolls
    assert len(ids) >= 4 and ids == everything[: len(ids)]

    await page.locator("#feed-sentinel").scroll_into_view_if_needed()  # scrolling down
    await expect(page.locator("#feed-list > li")).to_have_count(len(everything))
    assert await shown_ids(page, "#feed-list") == everything
    await expect(more).to_be_hidden()
    await expect(page.get_by_text("That's all for now.")).to_be_visible()


async def test_a_player_loads_and_plays_its_audio(page: Page, bot: RunningBot) -> None:
    await open_feed(page, bot)
    audio = page.locator("#feed-list article audio").first
    assert await audio.evaluate("a => a.readyState") == 0  # preload="none": nothing yet
    async with page.expect_response("**/media/*/audio.mp3") as answered:
        played = await audio.evaluate(
            "async a => { a.muted = true; await a.play(); return a.readyState; }"
        )
    response = await answered.value
    assert response.status in (200, 206) and response.headers["content-type"] == "audio/mpeg"
    assert played >= 2  # HAVE_CURRENT_DATA: it decoded
    await page.wait_for_function("a => a.currentTime > 0.1", arg=await audio.element_handle())
    duration = await audio.evaluate("a => a.duration")
    assert 0.5 < duration < 5, duration  # the fake composer's one-second tones
    assert await audio.evaluate("a => a.error") is None


async def test_a_tracks_page_shows_the_post_the_original_it_remixes_and_its_remixes(
    page: Page,
    bot: RunningBot,
    made: dict[str, Any],
    axe_source: str,
    screenshot_folders: list[Path],
) -> None:
    remix, original, its_remix = made["remix"], made["sunset"], made["remix2"]
    await page.goto(app_url(bot, ANN, f"post-{remix.id}"))  # start_param post-<id>
    body = page.locator("#track-body")
    await expect(page.locator("#track-heading")).to_have_text(remix.genre)
    main = body.locator("article.main")
    await expect(main).to_have_accessible_description(remix.description)
    await expect(main.locator(".meta")).to_contain_text(f"Mood: {remix.mood}")
    bot_name = "immu_test_bot"  # the fake Bot API's getMe
    await expect(page.get_by_role("link", name="Remix", exact=True)).to_have_attribute(
        "href", f"https://t.me/{bot_name}?start=remix-{remix.id}"
    )
    await expect(page.get_by_role("link", name="Make your own")).to_have_attribute(
        "href", f"https://t.me/{bot_name}?start=make"
    )
    originals = page.get_by_role("region", name="The original it remixes")
    await expect(originals.locator("article")).to_have_count(1)
    await expect(originals.locator("article")).to_have_attribute("data-post", str(original.id))
    remixes = page.get_by_role("region", name="Its remixes")
    await expect(remixes.locator("article")).to_have_count(1)
    await expect(remixes.locator("article")).to_have_attribute("data-post", str(its_remix.id))
    await check_axe(page, axe_source, "a track's page")
    await screenshot(page, "track", screenshot_folders)

    # tapping a post in a list opens its page; Back returns
    await remixes.get_by_role("button", name=f"{its_remix.genre}: open the track's page").click()
    await expect(page.locator("#track-heading")).to_be_focused()
    await expect(page.locator("#track-body article.main")).to_have_attribute(
        "data-post", str(its_remix.id)
    )
    await page.get_by_role("button", name="Back").first.click()
    await expect(page.locator("#track-body article.main")).to_have_attribute(
        "data-post", str(remix.id)
    )


async def test_a_korean_speaker_gets_every_word_in_korean_in_telegrams_dark_theme(
    page: Page, bot: RunningBot, made: dict[str, Any], axe_source: str
) -> None:
    # Telegram's own night theme, whose hint and red are too faint for small text
    theme = {"bg_color": "#17212b", "text_color": "#f5f5f5", "hint_color": "#708499",
             "link_color": "#6ab3f3", "button_color": "#5288c1", "button_text_color": "#ffffff",
             "secondary_bg_color": "#232e3c", "destructive_text_color": "#ec3942"}  # fmt: skip
    themed = app_url(bot, BO) + "&tgWebAppThemeParams=" + quote(json.dumps(theme))
    await page.goto(themed)
    await expect(page.locator("#feed-list > li")).to_have_count(len(public_ids(bot)))
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(23, 33, 43)"  # the theme's bg_color
    assert await page.evaluate("document.documentElement.lang") == "ko"
    await expect(page.get_by_role("heading", level=2)).to_have_text("최신 트랙")
    await expect(page.get_by_role("navigation", name="메뉴")).to_be_visible()
    await expect(page.get_by_label("분위기")).to_be_visible()
    sunset = page.locator(f'#feed-list article[data-post="{made["sunset"].id}"]')
    await expect(sunset.locator(".likes")).to_have_text("좋아요 3개")
    await expect(sunset.get_by_role("link", name="채널에서 보기")).to_be_visible()
    await check_axe(page, axe_source, "the feed in Korean")


async def test_a_refused_or_lost_call_is_said_in_words_and_try_again_recovers(
    page: Page, bot: RunningBot
) -> None:
    async def too_many(route: Any) -> None:
        await route.fulfill(status=429, content_type="application/json", body="{}")

    await page.route("**/app/api/feed?*", too_many)
    await page.goto(app_url(bot, ANN))
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("Too many requests. Wait a minute, then try again.")
    await page.unroute("**/app/api/feed?*")
    await page.route("**/app/api/feed?*", lambda route: route.abort("internetdisconnected"))
    await alert.get_by_role("button", name="Try again").click()
    await expect(alert).to_contain_text("IMMU cannot be reached. Check your connection")
    await page.unroute("**/app/api/feed?*")
    await alert.get_by_role("button", name="Try again").click()
    await expect(page.locator("#feed-list > li")).to_have_count(len(public_ids(bot)))
    await expect(alert).to_be_hidden()


@pytest.mark.parametrize(
    "signing",
    [
        {"tamper": {"user": '{"id":43,"first_name":"Bo","language_code":"en"}'}},  # forged
        {"auth_date": int(time.time()) - 2 * 86_400},  # stale: older than a day
    ],
    ids=["forged", "stale"],
)
async def test_initdata_forged_or_stale_gets_401_and_the_page_says_to_reopen_it(
    page: Page, bot: RunningBot, axe_source: str, signing: dict[str, Any]
) -> None:
    async with page.expect_response("**/app/api/me") as answered:
        await page.goto(app_url(bot, ANN, **signing))
    assert (await answered.value).status == 401
    await expect(page.get_by_role("alert")).to_contain_text(REOPEN)
    await expect(page.get_by_role("alert").get_by_role("button")).to_be_hidden()
    assert await page.locator("article").count() == 0
    await expect(page.get_by_role("navigation")).to_be_hidden()
    await check_axe(page, axe_source, "the reopen message")


async def test_the_profile_lists_the_persons_tracks_and_remixes_and_saves_settings(
    page: Page,
    bot: RunningBot,
    made: dict[str, Any],
    axe_source: str,
    screenshot_folders: list[Path],
) -> None:
    await page.goto(app_url(bot, ANN, "me"))  # start_param "me": the person's own profile
    await expect(page.locator("#profile-heading")).to_have_text("Your profile")
    own = public_ids(bot, "AND user_id = ?", ANN)
    tracks = page.get_by_role("region", name="Your tracks", exact=True)
    await expect(tracks.locator("article")).to_have_count(len(own))
    assert sorted(int(i) for i in await tracks.locator("article").evaluate_all(
        "a => a.map(x => x.dataset.post)")) == sorted(own)  # fmt: skip
    likes = sum(bot.db("SELECT likes FROM posts WHERE id = ?", i)[0][0] for i in own)
    await expect(page.locator("#profile-body .summary")).to_have_text(
        f"{len(own)} tracks, {likes} likes in all"
    )
    for post_id in own:
        await expect(tracks.get_by_role("button", name="Delete").and_(
            tracks.locator(f'[data-delete="{post_id}"]'))).to_be_visible()  # fmt: skip
    mine = page.get_by_role("region", name="Your remixes", exact=True)
    await expect(mine.locator("article")).to_have_attribute("data-post", str(made["remix2"].id))
    theirs = page.get_by_role("region", name="Remixes of your tracks")
    await expect(theirs.locator("article")).to_have_attribute("data-post", str(made["remix"].id))
    await expect(page.get_by_label("Hide my name on my posts")).not_to_be_checked()
    await expect(page.get_by_label("Describe the photo on my posts")).to_be_checked()
    await expect(page.get_by_role("radio", name="English")).to_be_checked()
    await check_axe(page, axe_source, "the profile")
    await screenshot(page, "profile", screenshot_folders)

    def saved() -> tuple[Any, ...]:
        return bot.db("SELECT language, describe FROM users WHERE id = ?", ANN)[0]

    await page.get_by_role("radio", name="한국어").check()
    await page.get_by_label("Describe the photo on my posts").uncheck()
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.locator("#profile-heading")).to_have_text("내 프로필")
    await expect(page.get_by_role("status")).to_have_text("설정을 저장했어요.")
    assert await page.evaluate("document.documentElement.lang") == "ko"
    assert saved() == ("ko", 0)
    await check_axe(page, axe_source, "the profile in Korean")

    await page.get_by_role("radio", name="English").check()
    await page.get_by_label("사진 설명").check()
    await page.get_by_role("button", name="설정 저장").click()
    await expect(page.locator("#profile-heading")).to_have_text("Your profile")
    await expect(page.get_by_role("status")).to_have_text("Settings saved.")
    assert saved() == ("en", 1)


async def test_a_name_opens_that_persons_profile_by_a_handle_never_by_their_id(
    page: Page, bot: RunningBot, made: dict[str, Any]
) -> None:
    await open_feed(page, bot, CY)
    market = page.locator(f'#feed-list article[data-post="{made["market"].id}"]')
    async with page.expect_response("**/app/api/profile/*") as answered:
        await market.get_by_role("button", name="by Bo").click()
    asked = (await answered.value).url.rsplit("/", 1)[-1]
    assert asked != str(BO) and len(asked) == 16  # a handle: no Telegram id in the page
    await expect(page.locator("#profile-heading")).to_have_text("Bo's profile")
    theirs = page.get_by_role("region", name="Tracks", exact=True)
    await expect(theirs.locator("article")).to_have_count(
        len(public_ids(bot, "AND user_id = ?", BO))
    )
    await page.get_by_role("button", name="My profile").click()  # her own, as before
    await expect(page.locator("#profile-heading")).to_have_text("Your profile")


async def test_deleting_a_post_asks_first_and_then_shows_the_servers_message(
    page: Page, bot: RunningBot, made: dict[str, Any], axe_source: str
) -> None:
    rain = made["rain"]
    ((message,),) = bot.db("SELECT channel_message_id FROM posts WHERE id = ?", rain.id)
    deleted = lambda: bot.tg.calls_to("deleteMessage", chat_id=CHANNEL, message_id=message)  # noqa: E731
    await page.goto(app_url(bot, ANN, "me"))
    delete = page.locator(f'[data-delete="{rain.id}"]')
    await expect(delete).to_have_accessible_name(f"Delete {rain.genre}")
    dialog = page.get_by_role("dialog", name="Delete this track?")

    await delete.focus()
    await page.keyboard.press("Enter")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    await check_axe(page, axe_source, "the delete dialog")
    await page.keyboard.press("Escape")  # changed her mind
    await expect(dialog).to_be_hidden()
    await expect(delete).to_be_focused()
    assert deleted() == [] and rain.id in public_ids(bot)

    await page.keyboard.press("Space")
    await expect(dialog).to_be_visible()
    await page.keyboard.press("Tab")
    await expect(dialog.get_by_role("button", name="Delete")).to_be_focused()
    await page.keyboard.press("Enter")
    # the chat's words. The delete may wait its turn: python-telegram-bot's rate limiter
    # allows 20 calls a minute to a channel, and this module's posts used most of them
    await expect(page.get_by_role("status")).to_have_text(EN["deleted"], timeout=70_000)
    await expect(page.locator(f'article[data-post="{rain.id}"]')).to_have_count(0)
    assert len(deleted()) == 1
    assert rain.id not in public_ids(bot)
    assert [m for m in bot.tg.chat_messages(CHANNEL_ID) if m["message_id"] == message] == []


async def test_a_forgotten_persons_tracks_are_gone_from_the_pages(
    page: Page, bot: RunningBot, made: dict[str, Any]
) -> None:
    cy = made["cy"]
    await open_feed(page, bot)
    card = page.locator(f'#feed-list article[data-post="{cy.id}"]')
    await expect(card).to_have_count(1)
    cover = await card.locator("img").get_attribute("src")
    audio = await card.locator("audio").get_attribute("src")
    assert cover and audio

    tg, user = bot.tg, bot.tg.user(CY, "Cy")
    tg.send_text(user, "/forget")
    confirm = await bot.until(lambda: keyboard_message(tg, CY, "forget"), "the confirmation")
    tg.tap(user, confirm, f"forget:{CY}")
    await bot.until(lambda: EN["forgotten"] in popups(tg), "forgotten")
    assert bot.db("SELECT COUNT(*) FROM posts WHERE user_id = ?", CY) == [(0,)]

    await page.reload()
    await expect(page.locator("#feed-list > li")).to_have_count(len(public_ids(bot)))
    await expect(page.locator(f'article[data-post="{cy.id}"]')).to_have_count(0)
    port = bot.settings.webapp_port
    async with aiohttp.ClientSession() as http:
        for url in (cover, audio):
            path = url.split("://", 1)[1].split("/", 1)[1]
            async with http.get(f"http://127.0.0.1:{port}/{path}") as answer:
                assert answer.status == 404, url

    await page.goto("about:blank")
    await page.goto(app_url(bot, ANN, f"post-{cy.id}"))
    await expect(page.get_by_role("alert")).to_contain_text("This track is not available any more.")
    assert await page.locator("article").count() == 0
