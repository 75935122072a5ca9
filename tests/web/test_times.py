"""Times on pages: one <time> element with the instant, shown in the viewer's zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from telehealth.web.times import when


def test_an_instant_becomes_a_time_element_in_utc_to_be_localized() -> None:
    chicago = timezone(timedelta(hours=-6))
    instant = datetime(2026, 12, 2, 14, 5, 7, 123456, tzinfo=chicago)
    assert str(when(instant)) == (
        '<time datetime="2026-12-02T20:05:07+00:00" data-show="datetime">'
        "Wed 02 Dec 2026, 20:05 UTC</time>"
    )
    assert 'data-show="time">20:05:07 UTC</time>' in str(when(instant, "time"))


def test_stored_iso_text_and_the_instant_give_the_same_element() -> None:
    instant = datetime(2026, 12, 2, 20, 26, 26, 456747, tzinfo=UTC)
    assert when("2026-12-02T20:26:26.456747Z") == when(instant)


def test_no_instant_is_a_dash_or_the_words_given() -> None:
    assert str(when(None)) == "—"
    assert str(when(None, "time", "now")) == "now"
