"""Inline keyboards and their callback data. Data is parsed strictly and checked by owner."""

from __future__ import annotations

from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.texts import text

PICK = "pick"  # pick:<job>:<track>
REGENERATE = "regen"  # regen:<job>
CANCEL = "cancel"  # cancel:<job>
DELETE = "del"  # del:<post>
FORGET = "forget"  # forget:<user>
ACTIONS = {PICK: 2, REGENERATE: 1, CANCEL: 1, DELETE: 1, FORGET: 1}


@dataclass(frozen=True)
class Callback:
    action: str
    ids: tuple[int, ...]


def parse(data: str | None) -> Callback | None:
    """``pick:12:0`` -> Callback("pick", (12, 0)); anything malformed -> None."""
    if not data or len(data) > 64:
        return None
    action, *parts = data.split(":")
    if action not in ACTIONS or len(parts) != ACTIONS[action]:
        return None
    if not all(p.isdigit() and len(p) < 19 for p in parts):
        return None
    return Callback(action, tuple(int(p) for p in parts))


def queued(lang: str, job_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text(lang, "button_cancel"), callback_data=f"{CANCEL}:{job_id}")]]
    )


def choices(lang: str, job_id: int, genres: list[str]) -> InlineKeyboardMarkup:
    picks = [
        [InlineKeyboardButton(text(lang, "button_pick", n=i + 1, genre=g)[:64], callback_data=f"{PICK}:{job_id}:{i}")]
        for i, g in enumerate(genres)
    ]  # fmt: skip
    return InlineKeyboardMarkup(
        [
            *picks,
            [
                InlineKeyboardButton(text(lang, "button_regenerate"), callback_data=f"{REGENERATE}:{job_id}"),
                InlineKeyboardButton(text(lang, "button_cancel"), callback_data=f"{CANCEL}:{job_id}"),
            ],
        ]
    )  # fmt: skip


def link(lang: str, url: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(text(lang, "button_view_post"), url=url)]])


def delete_choices(lang: str, posts: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label[:64], callback_data=f"{DELETE}:{post_id}")] for post_id, label in posts]
    )  # fmt: skip


def forget(lang: str, user_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    text(lang, "button_forget_yes"), callback_data=f"{FORGET}:{user_id}"
                )
            ]
        ]
    )
