"""What people ask about themselves and the feed: welcome, profile, top, their settings.

Also the operators' ``/stats``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.feed import Feed
from bot.jobs import Jobs
from bot.settings import Settings
from bot.telegram import keyboards
from bot.telegram.chat import Answer, Chat, Person
from bot.telegram.texts import LANGUAGES, plain, text
from storage import PostStatus, Store

PROFILE_POSTS = 30
DELETE_CHOICES = 20
DELETABLE = (PostStatus.POSTED, PostStatus.REVIEW, PostStatus.HIDDEN)
TOP_POSTS = 10
TOP_WINDOW = timedelta(days=7)


class Account:
    def __init__(
        self, settings: Settings, store: Store, feed: Feed, chat: Chat, jobs: Jobs
    ) -> None:
        self.settings = settings
        self.store = store
        self.feed = feed
        self.chat = chat
        self.jobs = jobs
        self.started = time.monotonic()
        # told ``(user_id, shown)`` whenever a person's name goes on or off (the pages'
        # handles of the people who show it)
        self.names_told: list[Callable[[int, bool], None]] = []

    async def welcome(self, who: Person) -> Answer:
        lang = await self.chat.meet(who)
        return Answer(text(lang, "start", name=who.first_name, channel=self.feed.display_name))

    async def profile(self, who: Person) -> Answer:
        lang = await self.chat.meet(who)
        posts = await self.store.user_posts(who.id)
        if not posts:
            return Answer(text(lang, "profile_empty"))
        lines = "\n".join(
            text(lang, "profile_line", url=self.feed.url(p.channel_message_id or 0), genre=p.genre, likes=p.likes)
            for p in posts[:PROFILE_POSTS]
        )  # fmt: skip
        likes = sum(p.likes for p in posts)
        return Answer(plain(lang, "profile", count=len(posts), likes=likes, lines=lines))

    async def top(self, who: Person) -> Answer:
        lang = await self.chat.meet(who)
        posts = await self.store.top_posts(datetime.now(UTC) - TOP_WINDOW, limit=TOP_POSTS)
        if not posts:
            return Answer(text(lang, "top_empty"))
        lines = "\n".join(
            text(lang, "top_line", rank=i + 1, url=self.feed.url(p.channel_message_id or 0), genre=p.genre, likes=p.likes)
            for i, p in enumerate(posts)
        )  # fmt: skip
        return Answer(plain(lang, "top", lines=lines))

    async def app(self, who: Person) -> Answer:
        """/app: the Mini App's pages, opened from a button; without ``IMMU_WEBAPP_URL``,
        that there are none."""
        lang = await self.chat.meet(who)
        if not self.settings.webapp_url:
            return Answer(text(lang, "app_off"))
        return Answer(text(lang, "app_open"), keyboards.web_app(lang, self.settings.webapp_url))

    async def delete_menu(self, who: Person) -> Answer:
        """The person's posts to take down: public ones, and those held for review or
        hidden after reports (withdrawn before an operator decides)."""
        lang = await self.chat.meet(who)
        posts = await self.store.user_posts(who.id, DELETABLE)
        if not posts:
            return Answer(text(lang, "delete_none"))
        labels = [
            (p.id, plain(lang, "button_delete_post" if p.status == PostStatus.POSTED else "button_delete_held",
                         genre=p.genre, likes=p.likes, date=p.created_at[:10]))
            for p in posts[:DELETE_CHOICES]
        ]  # fmt: skip
        return Answer(text(lang, "delete_choose"), keyboards.delete_choices(lang, labels))

    async def toggle_anonymous(self, who: Person) -> Answer:
        lang = await self.chat.meet(who)
        hidden = await self.store.toggle_anonymous(who.id)
        for told in self.names_told:
            told(who.id, not hidden)
        return Answer(text(lang, "anonymous_on" if hidden else "anonymous_off"))

    async def toggle_describe(self, who: Person) -> Answer:
        lang = await self.chat.meet(who)
        described = await self.store.toggle_describe(who.id)
        return Answer(text(lang, "describe_on" if described else "describe_off"))

    async def switch_language(self, who: Person, wanted: str | None) -> Answer:
        """``/lang ko`` picks a language; a bare ``/lang`` switches to the next one."""
        lang = await self.chat.meet(who)
        if wanted not in LANGUAGES:
            wanted = LANGUAGES[(LANGUAGES.index(lang) + 1) % len(LANGUAGES)]
        await self.store.set_language(who.id, wanted)
        self.chat.chose(who.id, wanted)
        return Answer(text(wanted, "lang_set"))

    async def forget_menu(self, who: Person) -> Answer:
        lang = await self.chat.meet(who)
        return Answer(text(lang, "forget_confirm"), keyboards.forget(lang, who.id))

    async def stats(self, who: Person) -> Answer:
        lang = await self.chat.meet(who)
        if who.id not in self.settings.admin_ids:
            return Answer(text(lang, "admin_only"))
        counts = await self.store.stats()
        counts["in_line"] = self.jobs.queue.qsize()
        counts["workers_alive"] = await self.jobs.workers_alive()
        counts["uptime_s"] = int(time.monotonic() - self.started)
        lines = [f"{k}: {v}" for k, v in sorted(counts.items())]
        lines += [f"last {k}_s: {v:.2f}" for k, v in self.jobs.stage_seconds.items()]
        lines.append(await self._reports_line(lang))
        return Answer(text(lang, "stats", lines="\n".join(lines)))

    async def _reports_line(self, lang: str) -> str:
        """Readers' reports, kept even where none could hide a post (no operator then)."""
        reports = await self.store.report_summary()
        if reports.top_post is None:
            return plain(lang, "stats_reports_none")
        return plain(
            lang,
            "stats_reports",
            posts=reports.posts,
            post=reports.top_post,
            count=reports.top_count,
        )
