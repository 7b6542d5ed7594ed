"""The per-person rate limit: the limit holds, and memory is bounded whoever calls."""

from __future__ import annotations

from bot.ratelimit import WINDOW_S, RateLimit


def test_at_most_so_many_calls_a_minute_per_person_refused_ones_not_counted() -> None:
    rate = RateLimit(3)
    assert [rate.allow(1, now=float(t)) for t in range(5)] == [True, True, True, False, False]
    assert rate.allow(2, now=4.0)  # another person is not held back
    assert not rate.allow(1, now=WINDOW_S - 0.5)  # the first call is not a minute old yet
    assert rate.allow(1, now=WINDOW_S)  # it is: one call again, the refused ones never counted
    assert not rate.allow(1, now=WINDOW_S + 0.5)


def test_people_idle_a_minute_are_forgotten_and_never_more_than_the_cap_are_kept() -> None:
    rate = RateLimit(2, max_keys=100)
    for key in range(1_000):  # an inline-query flood: a new person each call
        assert rate.allow(key, now=key / 1_000)
        assert len(rate) <= 100
    assert len(rate) == 100
    assert rate.allow(999, now=1.0) and not rate.allow(999, now=1.0)  # still counted
    rate.allow(5_000, now=1.0 + WINDOW_S)  # a minute on: every earlier person is gone
    assert len(rate) == 1


def test_the_cap_drops_the_one_idle_longest_never_one_still_calling() -> None:
    rate = RateLimit(2, max_keys=3)
    assert rate.allow(42, now=0.0) and rate.allow(42, now=0.5)
    for key in range(10):  # new people past the cap, while Ann keeps calling, refused
        assert rate.allow(key, now=1.0 + key)
        assert not rate.allow(42, now=1.0 + key)
        assert len(rate) <= 3
