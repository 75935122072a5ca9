"""Times on pages: shown in the viewer's time zone.

Every time goes out as ``<time datetime="…instant…" data-show="…">`` with a text to fall back
on, and ``static/localtime.js`` rewrites the text with the zone's abbreviation: in the zone the
viewer chose on their profile (the layout's ``data-time-zone``), else in their browser's. The
server cannot know a browser's zone, so the fallback text is in the viewer's chosen zone, or
UTC. One helper for every page keeps the format in one place.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

Show = Literal["datetime", "time", "date"]

_FALLBACK: dict[Show, str] = {
    "datetime": "%a %d %b %Y, %H:%M %Z",
    "time": "%H:%M:%S %Z",
    "date": "%a %d %b %Y",
}


def when(
    moment: datetime | str | None,
    show: Show = "datetime",
    empty: str = "—",
    zone: str | None = None,
) -> Markup:
    """A ``<time>`` element for an aware instant (or its ISO 8601 text, as stored JSON keeps
    it), to be shown in the viewer's zone; its fallback text is in ``zone`` (else UTC)."""
    if moment is None:
        return Markup.escape(empty)
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    instant = moment.astimezone(UTC)
    return Markup('<time datetime="{}" data-show="{}">{}</time>').format(
        instant.isoformat(timespec="seconds"),
        show,
        instant.astimezone(_zone(zone)).strftime(_FALLBACK[show]),
    )


def _zone(name: str | None) -> ZoneInfo | Any:
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


@pass_context
def viewer_when(
    context: Context, moment: datetime | str | None, show: Show = "datetime", empty: str = "—"
) -> Markup:
    """:func:`when` for templates: the fallback in the zone of the page's viewer
    (``viewer_zone`` in the page's context, set by ``web.pages.render``)."""
    return when(moment, show, empty, context.get("viewer_zone"))
