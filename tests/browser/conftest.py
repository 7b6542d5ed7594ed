"""The Mini App's pages in a real browser: Debian's Chromium driven by Playwright, with
axe-core (npm, ``tests/browser/package.json``) checking each page.

One Chromium and one bot serve the whole module. The bot is the real one, in the module's
event loop (``tests/support/inprocess.py``), against the fake Bot API, with its Mini App
on a free loopback port.

What these tests need beyond the Python dev install: Debian's ``chromium`` (the browser
at /usr/bin/chromium; Playwright's own browser downloads are never used) and
``npm ci --prefix tests/browser`` (axe-core). Without either, every test here fails
saying how to install it: a CI run that cannot run them must not pass.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from PIL import Image, ImageDraw

from bot.telegram.texts import CATALOGUE
from tests.fakes.composer import FakeComposer
from tests.fakes.telegram_server import FakeTelegram
from tests.support.harness import answers, results
from tests.support.images import image_bytes
from tests.support.inprocess import PHOTO, RunningBot, job_of, settings_for

HERE = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# what Telegram opens: HTTPS, as it requires; the tests' proxy forwards it to the bot
WEBAPP_URL = "https://immu.example/app/"
SCREENSHOTS = os.environ.get("IMMU_SCREENSHOTS", "")  # read before the bot's env is cleaned


def _missing_tools() -> list[str]:
    """What this machine lacks to run the browser tests, each with its install line."""
    missing = []
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    if not AXE.is_file():
        missing.append(
            f"no axe-core at {AXE} (apt-get install -y npm; npm ci --prefix tests/browser)"
        )
    return missing


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def tools() -> None:
    """Fails each test of the module, with the install lines, where a tool is missing."""
    if problems := _missing_tools():
        pytest.fail("the browser tests cannot run: " + "; ".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def axe_source(tools: None) -> str:
    return AXE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def tg() -> Iterator[FakeTelegram]:
    server = FakeTelegram().start()
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(
    tools: None, tg: FakeTelegram, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningBot]:
    """The real bot, its Mini App listening on ``bot.settings.webapp_port``; its
    ``composer`` is a ``FakeComposer``. Fails the module if anything logged a traceback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    with pytest.MonkeyPatch.context() as env:
        for key in list(os.environ):  # nothing of this machine's settings reaches the bot
            if key.startswith(("IMMU_", "TELEGRAM_", "OPENAI_")):
                env.delenv(key)
        data_dir = tmp_path_factory.mktemp("browser") / "data"
        # one person opens many pages in a few seconds here: the rate limit has tests of
        # its own (tests/bot/web), and must not turn a page's call into a 429 on a fast run
        settings = settings_for(
            tg, data_dir, webapp_url=WEBAPP_URL, webapp_port=port, webapp_rate=100_000
        )
        running = RunningBot(tg, settings, FakeComposer())
        await running.start()
        try:
            await running.until(lambda: _listening(port), "the Mini App's port")
            yield running
        finally:
            await running.stop()
    assert not running.tracebacks, running.tracebacks


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(tools: None) -> AsyncIterator[Any]:
    """One headless Chromium for the module (each test opens its own context)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture()
def screenshot_folders(tmp_path: Path) -> list[Path]:
    """Where a test saves its screenshots: tmp_path, and IMMU_SCREENSHOTS if set."""
    folders = [tmp_path]
    if SCREENSHOTS:
        folder = Path(SCREENSHOTS)
        folder.mkdir(parents=True, exist_ok=True)
        folders.append(folder)
    return folders


@dataclass(frozen=True)
class Made:
    """One post the module made: what the bot was given for it."""

    id: int
    user_id: int
    genre: str
    mood: str
    description: str
    photo_words: str
    remix_of: int | None = None


PEOPLE = {42: ("Ann", "en"), 43: ("Bo", "ko"), 44: ("Cy", "en")}


def _photo(
    top: tuple[int, int, int], bottom: tuple[int, int, int], sun: tuple[int, int, int]
) -> bytes:
    """A 480x480 photo: a sky from ``top`` to ``bottom`` and a round sun."""
    image = Image.new("RGB", (480, 480))
    draw = ImageDraw.Draw(image)
    for y in range(480):
        mix = y / 479
        draw.line(
            [(0, y), (479, y)],
            fill=tuple(round(a + (b - a) * mix) for a, b in zip(top, bottom, strict=True)),
        )
    draw.ellipse((170, 200, 310, 340), fill=sun)
    return image_bytes(image, "JPEG", quality=85)


async def _post(
    bot: RunningBot, who: int, *, track: int, mood: str, description: str, photo_words: str,
    photo: bytes = PHOTO, remix_of: int | None = None,
) -> Made:  # fmt: skip
    """A person sends a photo (or taps Remix under a post) and posts track ``track``."""
    tg, composer = bot.tg, bot.composer
    name, language = PEOPLE[who]
    user = tg.user(who, name, language=language)
    composer.mood, composer.description = mood, description
    composer.captions = (photo_words, photo_words, photo_words)
    if remix_of is None:
        result = await bot.deliver(user, photo)
    else:
        before = len(results(tg, who))
        tg.send_text(user, f"/start remix-{remix_of}")
        result = await bot.result_for(who, before + 1)
    job = job_of(result)
    tg.tap(user, result, f"pick:{job}:{track}")
    query = "SELECT p.id, t.genre FROM posts p JOIN tracks t ON t.job_id = p.job_id AND t.idx = p.track_idx WHERE p.job_id = ? AND p.status = 'posted' AND p.channel_message_id IS NOT NULL"
    ((post_id, genre),) = await bot.until(lambda: bot.db(query, job), f"post of job {job}")
    # the choice keyboard becomes the link to the post: the next delivery is counted anew
    await bot.until(lambda: results(tg, who) == [], "the keyboard's link")
    return Made(post_id, who, genre, mood, description, photo_words, remix_of)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def made(bot: RunningBot) -> dict[str, Made]:
    """Six public posts by three people, of three genres and four moods; two are remixes
    (a remix of Ann's post by Bo, and Ann's remix of that), some with likes. Ann and Bo
    show their names; Cy does not."""
    tg = bot.tg
    for who in (42, 43):  # their names on their posts, as the chat's /anonymous sets it
        name, language = PEOPLE[who]
        tg.send_text(tg.user(who, name, language=language), "/anonymous")
        shown = CATALOGUE[language]["anonymous_off"]
        await bot.until(lambda who=who, shown=shown: shown in answers(tg, who), "/anonymous")  # type: ignore[misc]
    posts = {
        "sunset": await _post(
            bot,
            42,
            track=0,
            mood="serene",
            description="warm acoustic guitar over soft waves at sunset",
            photo_words="a sunset over the sea",
        ),
        "rain": await _post(
            bot,
            42,
            track=1,
            mood="melancholic",
            description="slow piano chords under a steady rain",
            photo_words="a blue night sky over a dark street",
            photo=_photo((10, 20, 60), (40, 70, 120), (200, 210, 230)),
        ),
        "market": await _post(
            bot,
            43,
            track=2,
            mood="bright",
            description="a quick strummed folk tune with hand claps",
            photo_words="a green field under a yellow sun",
            photo=_photo((120, 190, 240), (60, 150, 60), (250, 220, 60)),
        ),
    }
    posts["remix"] = await _post(
        bot,
        43,
        track=0,
        mood="dreamy",
        description="the sunset guitar, slower, with a hazy echo",
        photo_words="a sunset over the sea",
        remix_of=posts["sunset"].id,
    )
    posts["remix2"] = await _post(
        bot,
        42,
        track=1,
        mood="serene",
        description="the hazy sunset guitar with soft brushed drums",
        photo_words="a sunset over the sea",
        remix_of=posts["remix"].id,
    )
    posts["cy"] = await _post(
        bot,
        44,
        track=1,
        mood="bright",
        description="airy synth pads rising over a low hum",
        photo_words="a pink sky over a purple hill",
        photo=_photo((250, 160, 190), (110, 60, 140), (255, 240, 200)),
    )
    likes = {"sunset": 3, "remix": 2, "market": 1}
    for key, count in likes.items():
        ((message,),) = bot.db("SELECT channel_message_id FROM posts WHERE id = ?", posts[key].id)
        tg.react(message, {"👍": count})
    await bot.until(
        lambda: all(bot.db("SELECT likes FROM posts WHERE id = ?", posts[k].id) == [(n,)] for k, n in likes.items()),
        "likes",
    )  # fmt: skip
    return posts


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Any, bot: RunningBot, made: dict[str, Made]) -> AsyncIterator[Any]:
    """A fresh browser context and page (a phone-sized window). Requests to
    IMMU_WEBAPP_URL's host (the media links) go through a route that plays the reverse
    proxy in front of the bot: HTTPS in, the bot's plain-HTTP port out. The test fails if
    the page threw an error or asked any other host for anything."""
    context = await browser.new_context(
        viewport={"width": 420, "height": 880}, color_scheme="light", locale="en-GB"
    )
    public = urlsplit(bot.settings.webapp_url)
    port = bot.settings.webapp_port

    async def proxy(route: Any) -> None:
        url = urlsplit(route.request.url)
        forwarded = f"http://127.0.0.1:{port}{url.path}" + (f"?{url.query}" if url.query else "")
        await route.fulfill(response=await route.fetch(url=forwarded))

    await context.route(f"{public.scheme}://{public.netloc}/**", proxy)
    tab = await context.new_page()
    errors: list[str] = []
    hosts: set[str] = set()
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    try:
        yield tab
    finally:
        await context.unroute_all(behavior="ignoreErrors")  # a cover still on its way
        await context.close()
    assert errors == [], errors
    assert hosts <= {f"127.0.0.1:{port}", public.netloc}, hosts
