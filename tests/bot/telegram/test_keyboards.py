"""Callback data and deep links: each action's pattern takes its own data and nothing else."""

from __future__ import annotations

import re

import pytest

from bot.telegram import keyboards


@pytest.mark.parametrize(
    ("pattern", "data", "ids"),
    [
        (keyboards.PICK, "pick:12:2", ("12", "2")),
        (keyboards.REGENERATE, "regen:7", ("7",)),
        (keyboards.CANCEL, "cancel:999999999999", ("999999999999",)),
        (keyboards.DELETE, "del:1", ("1",)),
        (keyboards.FORGET, "forget:42", ("42",)),
        (keyboards.REMIX_PAYLOAD, "remix-3", ("3",)),
        (keyboards.APPROVE, "approve:5", ("5",)),
        (keyboards.REJECT, "reject:5", ("5",)),
        (keyboards.RESTORE, "restore:5", ("5",)),
        (keyboards.REMOVE, "remove:5", ("5",)),
        (keyboards.REPORT, "report:5", ("5",)),
    ],
)
def test_callback_data_matches_its_action(
    pattern: re.Pattern[str], data: str, ids: tuple[str, ...]
) -> None:
    match = pattern.match(data)
    assert match is not None and match.groups() == ids


@pytest.mark.parametrize(
    "bad",
    ["", "pick:12", "pick:a:1", "pick:1:2:3", "pick:-1:0", "pick:¹²:0", "pick:٣:0",
     "pick:12:0\n", "del:" + "9" * 13, "regen:", "drop:1", "x" * 65, "approve:", "report:²",
     "reject:1:2", "remove:" + "9" * 13, "restore:-1"],
)  # fmt: skip
def test_junk_callback_data_matches_no_action(bad: str) -> None:
    patterns = (keyboards.PICK, keyboards.REGENERATE, keyboards.CANCEL, keyboards.DELETE,
                keyboards.FORGET, keyboards.APPROVE, keyboards.REJECT, keyboards.RESTORE,
                keyboards.REMOVE, keyboards.REPORT)  # fmt: skip
    assert not any(p.match(bad) for p in patterns)


@pytest.mark.parametrize("bad", ["remix-", "remix-²", "remix-" + "9" * 20, "remix-1 ", "remix--1"])
def test_junk_deep_links_match_no_remix(bad: str) -> None:
    assert not keyboards.REMIX_PAYLOAD.match(bad)
