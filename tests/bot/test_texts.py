"""The catalogue: both languages complete, and nothing says its meaning with emoji alone."""

from __future__ import annotations

import re
import string

from bot import keyboards
from bot.texts import EN, KO, text


def test_korean_has_every_english_text_with_the_same_placeholders() -> None:
    assert set(KO) == set(EN)
    for key in EN:
        fields = {f for _, f, _, _ in string.Formatter().parse(EN[key]) if f}
        assert fields == {f for _, f, _, _ in string.Formatter().parse(KO[key]) if f}, key


def test_every_button_and_message_carries_words() -> None:
    for lang in ("en", "ko"):
        markups = [
            keyboards.queued(lang, 1),
            keyboards.choices(lang, 1, ["jazz", "rock", "ambient"]),
            keyboards.link(lang, "https://t.me/x/1"),
            keyboards.forget(lang, 1),
        ]
        for markup in markups:
            for row in markup.inline_keyboard:
                for button in row:
                    assert re.search(r"[A-Za-z가-힣]{2,}", button.text), button.text
        for key in EN:
            if key.startswith(("stage_", "button_")) or key in ("queued", "busy"):
                assert re.search(r"[A-Za-z가-힣]{2,}", text(lang, key, step=1, total=2, n=1, genre="g",
                                                           position=1, likes=0, date="d")), key  # fmt: skip


def test_callback_data_is_parsed_strictly() -> None:
    assert keyboards.parse("pick:12:2") == keyboards.Callback("pick", (12, 2))
    for bad in (
        None,
        "",
        "pick:12",
        "pick:a:1",
        "pick:1:2:3",
        "drop:1",
        "pick:-1:0",
        "x" * 65,
        "del:" + "9" * 30,
    ):
        assert keyboards.parse(bad) is None
