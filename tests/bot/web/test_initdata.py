"""The Mini App's initData: only what Telegram signed for this bot, and only while fresh."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlencode

import pytest

from bot.web.initdata import Unsigned, verify
from tests.support.webapp import sign_init_data

TOKEN = "123456:test-token"
DAY = 86_400


def test_a_launch_signed_for_this_bot_names_the_person() -> None:
    data = sign_init_data(TOKEN, 42, "김민지", language_code="ko", start_param="post-7")
    who = verify(data, TOKEN, max_age_s=DAY)
    assert (who.user_id, who.first_name, who.language_code, who.start_param) == (
        42, "김민지", "ko", "post-7",
    )  # fmt: skip


@pytest.mark.parametrize(
    "case",
    ["empty", "other bot", "changed user", "changed hash", "no hash", "stale", "future",
     "doubled field", "no user", "non-ascii hash", "short hash"],
)  # fmt: skip
def test_unsigned_forged_or_stale_data_is_refused(case: str) -> None:
    now = int(time.time())
    data = {
        "empty": "",
        "other bot": sign_init_data("999:another-bot", 42),
        "changed user": sign_init_data(TOKEN, 42, tamper={"user": '{"id":1,"first_name":"A"}'}),
        "changed hash": sign_init_data(TOKEN, 42, tamper={"hash": "0" * 64}),
        "no hash": urlencode(
            [(k, v) for k, v in parse_qsl(sign_init_data(TOKEN, 42)) if k != "hash"]
        ),
        "stale": sign_init_data(TOKEN, 42, auth_date=now - DAY - 5),
        "future": sign_init_data(TOKEN, 42, auth_date=now + 3600),
        "doubled field": sign_init_data(TOKEN, 42) + "&auth_date=1",
        "no user": sign_init_data(TOKEN, None),  # signed, but names nobody
        "non-ascii hash": sign_init_data(TOKEN, 42, tamper={"hash": "é" * 64}),
        "short hash": sign_init_data(TOKEN, 42, tamper={"hash": "ab"}),
    }[case]
    with pytest.raises(Unsigned):
        verify(data, TOKEN, max_age_s=DAY)
