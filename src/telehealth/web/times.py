"""Times on pages: shown in the viewer's time zone.

The server cannot know the zone of the browser that reads a page, so every time goes out as
``<time datetime="…instant…" data-show="…">`` with a UTC text to fall back on, and
``static/localtime.js`` rewrites the text in the browser's zone with the zone's abbreviation.
One helper for every page keeps the format in one place.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from markupsafe import Markup

Show = Literal["datetime", "time", "date", "clock"]

_FALLBACK: dict[Show, str] = {
    "datetime": "%a %d %b %Y, %H:%M %Z",
    "time": "%H:%M:%S %Z",
    "date": "%a %d %b %Y",
    "clock": "%H:%M %Z",
}


def when(
    moment: datetime | str | None,
    show: Show = "datetime",
    empty: str = "—",
    zone: str | None = None,
) -> Markup:
    """A ``<time>`` element for an aware instant (or its ISO 8601 text, as stored JSON keeps
    it), to be shown in the viewer's zone, or in ``zone`` (an IANA name) where the page shows
    someone else's clock: a patient's, when their coordinator books for them."""
    if moment is None:
        return Markup.escape(empty)
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    instant = moment.astimezone(UTC)
    if zone is None:
        return Markup('<time datetime="{}" data-show="{}">{}</time>').format(
            instant.isoformat(timespec="seconds"), show, instant.strftime(_FALLBACK[show])
        )
    local = instant.astimezone(ZoneInfo(zone))
    return Markup('<time datetime="{}" data-show="{}" data-zone="{}">{}</time>').format(
        instant.isoformat(timespec="seconds"), show, zone, local.strftime(_FALLBACK[show])
    )
