"""Times on pages: shown in the viewer's time zone.

Every time goes out as ``<time datetime="…instant…" data-show="…">`` with a text to fall back
on, and ``static/localtime.js`` rewrites the text with the zone's abbreviation: in the zone the
viewer chose on their profile (the layout's ``data-time-zone``), else in their browser's. The
server cannot know a browser's zone, so the fallback text is in the viewer's chosen zone, or
UTC. A page that shows someone else's clock (a patient's, when their coordinator books for
them) names that zone on the element (``data-zone``), which wins over the viewer's. One helper
for every page keeps the format in one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

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
    fallback_zone: str | None = None,
) -> Markup:
    """A ``<time>`` element for an aware instant (or its ISO 8601 text, as stored JSON keeps
    it), to be shown in the viewer's zone, or in ``zone`` (an IANA name) where the page shows
    someone else's clock. Its fallback text is in ``zone``, else ``fallback_zone``, else UTC."""
    if moment is None:
        return Markup.escape(empty)
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    instant = moment.astimezone(UTC)
    # Joined as text rather than through Markup.format, which costs more than the rest of the
    # element (a week of free times is a hundred of them). The stamp is ISO digits and ``show``
    # one of _FALLBACK's keys; the zone's name and the formatted text are escaped.
    stamp = instant.isoformat(timespec="seconds")
    if zone is None:
        local = instant.astimezone(_zone(fallback_zone))
        text = escape(local.strftime(_FALLBACK[show]))
        return Markup(f'<time datetime="{stamp}" data-show="{show}">{text}</time>')  # noqa: S704
    local = instant.astimezone(ZoneInfo(zone))
    text = escape(local.strftime(_FALLBACK[show]))
    return Markup(  # noqa: S704 - escaped above
        f'<time datetime="{stamp}" data-show="{show}" data-zone="{escape(zone)}">{text}</time>'
    )


def time_choices(
    moments: Iterable[datetime], name: str, zone: str, chosen: datetime | None = None
) -> Markup:
    """Radio buttons named ``name``, one per instant (its ISO 8601 text the value), each
    labelled with its clock time (:func:`when`) in ``zone``; ``chosen``'s is checked.

    Joined here rather than looped over in a template: a week of free times is a hundred
    buttons, and the template's calls cost more than the rest of the page."""
    return Markup(  # noqa: S704 - ISO text of datetimes, and when()'s escaped markup
        "".join(
            f'<label class="inline"><input type="radio" name="{escape(name)}" '
            f'value="{moment.isoformat()}"{" checked" if moment == chosen else ""}> '
            f"{when(moment, 'clock', zone=zone)}</label>"
            for moment in moments
        )
    )


def _zone(name: str | None) -> tzinfo:
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


@pass_context
def viewer_when(
    context: Context,
    moment: datetime | str | None,
    show: Show = "datetime",
    empty: str = "—",
    zone: str | None = None,
) -> Markup:
    """:func:`when` for templates: the fallback in the zone of the page's viewer
    (``viewer_zone`` in the page's context, set by ``web.pages.render``)."""
    return when(moment, show, empty, zone, context.get("viewer_zone"))
