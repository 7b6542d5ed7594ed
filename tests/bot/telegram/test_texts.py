"""The catalogue: both languages complete, and nothing says its meaning with emoji alone."""

from __future__ import annotations

import re
import string

import pytest

from bot.telegram import keyboards
from bot.telegram.texts import CATALOGUE, EN, KO, plain, text


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
            keyboards.review(lang, 1),
            keyboards.reported(lang, 1),
            keyboards.web_app(lang, "https://immu.example/app/"),
        ]
        for markup in markups:
            for row in markup.inline_keyboard:
                for button in row:
                    assert re.search(r"[A-Za-z가-힣]{2,}", button.text), button.text
        for key in EN:
            if key.startswith(("stage_", "button_")) or key in ("queued", "busy"):
                assert re.search(r"[A-Za-z가-힣]{2,}", text(lang, key, step=1, total=2, n=1, genre="g",
                                                           position=1, likes=0, date="d")), key  # fmt: skip


@pytest.mark.parametrize(
    ("key", "values", "one", "many"),
    [
        ("profile_line", {"url": "u", "genre": "jazz"}, "1 like", "2 likes"),
        ("top_line", {"url": "u", "genre": "jazz", "rank": 1}, "1 like", "2 likes"),
        ("button_delete_post", {"genre": "jazz", "date": "d"}, "1 like,", "2 likes,"),
        ("reported_note", {"post": 3, "user": "u"}, "Reported 1 time:", "Reported 2 times:"),
        ("limit_daily", {}, "limit of 1 photo.", "limit of 2 photos."),
        ("purge_unconfirmed", {}, "1 post was never", "2 posts were never"),
    ],
)
def test_counted_words_agree_with_their_count(
    key: str, values: dict[str, object], one: str, many: str
) -> None:
    """ "1 likes" and "Reported 1 times" read wrong: English picks the form by the count."""
    count = "count" if "{count" in CATALOGUE["en"][key] else "n"
    count = "likes" if "{likes" in CATALOGUE["en"][key] else count
    for render in (text, plain):
        assert one in render("en", key, **values, **{count: 1})
        assert many in render("en", key, **values, **{count: 2})
        assert "1 likes" not in render("en", key, **values, **{count: 1})
        korean = render("ko", key, **values, **{count: 1})  # no forms: the number alone
        assert "plural" not in korean and "1" in korean
