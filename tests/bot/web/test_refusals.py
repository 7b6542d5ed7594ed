"""The log of refused Mini App calls: a token that signs nobody's calls is a warning."""

from __future__ import annotations

import logging

import pytest

from bot.web.miniapp import REFUSALS_LOG_S, Refusals

MISMATCH = "signature does not match"  # the reason initdata gives


def _lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records]


def test_mismatched_signatures_and_no_signed_call_warn_of_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    refusals = Refusals()
    refusals.refused("/app/api/me", MISMATCH, now=0.0)
    for second in range(1, 30):
        refusals.refused("/app/api/feed", MISMATCH, now=float(second))
    refusals.refused("/app/api/me", MISMATCH, now=REFUSALS_LOG_S)
    (first, level), (second_line, second_level) = [(m, lv) for lv, m in _lines(caplog)]
    assert level == second_level == logging.WARNING
    assert "another bot" in first and "token changed" in first
    assert "suppressed=29" in second_line and MISMATCH in second_line


def test_mismatched_signatures_among_signed_calls_are_an_info_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    refusals = Refusals()
    refusals.signed()
    refusals.refused("/app/api/me", MISMATCH, now=0.0)  # a forger among real people
    refusals.signed()
    refusals.refused("/app/api/me", MISMATCH, now=REFUSALS_LOG_S)
    assert [level for level, _ in _lines(caplog)] == [logging.INFO, logging.INFO]
    # a window with refusals and no signed call: every person is likely refused
    refusals.refused("/app/api/me", MISMATCH, now=2 * REFUSALS_LOG_S)
    refusals.refused("/app/api/me", "initData is 90000 s old", now=2 * REFUSALS_LOG_S)
    assert [level for level, _ in _lines(caplog)][2:] == [logging.WARNING, logging.INFO]
