"""Inline keyboards, their callback data, and deep-link payloads.

Callback data and payloads come back from anyone's client: each action has a strict
pattern (ASCII digits, bounded length) that its handler is registered with, so
nothing malformed ever reaches a service.
"""

from __future__ import annotations

import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, WebAppInfo

from bot.telegram.texts import plain

ID = r"([0-9]{1,12})"  # row ids: ASCII digits only ('²'.isdigit() is True), bounded

PICK = re.compile(rf"^pick:{ID}:([0-9]{{1,2}})\Z")  # the service checks the track
REGENERATE = re.compile(rf"^regen:{ID}\Z")
CANCEL = re.compile(rf"^cancel:{ID}\Z")
DELETE = re.compile(rf"^del:{ID}\Z")
FORGET = re.compile(rf"^forget:{ID}\Z")
APPROVE = re.compile(rf"^approve:{ID}\Z")  # operators: a post in review
REJECT = re.compile(rf"^reject:{ID}\Z")
RESTORE = re.compile(rf"^restore:{ID}\Z")  # operators: a post hidden after reports
REMOVE = re.compile(rf"^remove:{ID}\Z")
REPORT = re.compile(rf"^report:{ID}\Z")  # readers, under a channel post

REMIX_PAYLOAD = re.compile(rf"^remix-{ID}$")  # /start remix-<post>, from under a post
MAKE_PAYLOAD = "make"  # /start make: "Make your own" under a post


def remix_payload(post_id: int) -> str:
    return f"remix-{post_id}"


def app_payload(post_id: int) -> str:
    """The Mini App's start parameter that opens a track's page."""
    return f"post-{post_id}"


def queued(lang: str, job_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(plain(lang, "button_cancel"), callback_data=f"cancel:{job_id}")]]
    )


def choices(lang: str, job_id: int, genres: list[str]) -> InlineKeyboardMarkup:
    picks = [
        [InlineKeyboardButton(plain(lang, "button_pick", n=i + 1, genre=g)[:64], callback_data=f"pick:{job_id}:{i}")]
        for i, g in enumerate(genres)
    ]  # fmt: skip
    return InlineKeyboardMarkup(
        [
            *picks,
            [
                InlineKeyboardButton(plain(lang, "button_regenerate"), callback_data=f"regen:{job_id}"),
                InlineKeyboardButton(plain(lang, "button_cancel"), callback_data=f"cancel:{job_id}"),
            ],
        ]
    )  # fmt: skip


def link(lang: str, url: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(plain(lang, "button_view_post"), url=url)]])


def web_app(lang: str, url: str) -> InlineKeyboardMarkup:
    """Opens the Mini App's pages (private chats only: Telegram refuses it elsewhere)."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(plain(lang, "button_app"), web_app=WebAppInfo(url))]]
    )


def delete_choices(lang: str, posts: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label[:64], callback_data=f"del:{post_id}")] for post_id, label in posts]
    )  # fmt: skip


def forget(lang: str, user_id: int) -> InlineKeyboardMarkup:
    yes = InlineKeyboardButton(plain(lang, "button_forget_yes"), callback_data=f"forget:{user_id}")
    return InlineKeyboardMarkup([[yes]])


def review(lang: str, post_id: int) -> InlineKeyboardMarkup:
    """Under a post in the operators' chat, before it goes to the channel."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(plain(lang, "button_approve"), callback_data=f"approve:{post_id}"),
          InlineKeyboardButton(plain(lang, "button_reject"), callback_data=f"reject:{post_id}")]]
    )  # fmt: skip


def reported(lang: str, post_id: int) -> InlineKeyboardMarkup:
    """Under a post taken down after reports, in the operators' chat."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(plain(lang, "button_restore"), callback_data=f"restore:{post_id}"),
          InlineKeyboardButton(plain(lang, "button_remove"), callback_data=f"remove:{post_id}")]]
    )  # fmt: skip


def report(lang: str, post_id: int) -> InlineKeyboardButton:
    """The Report button under a channel post."""
    return InlineKeyboardButton(plain(lang, "button_report"), callback_data=f"report:{post_id}")
