"""Headless Chromium on a case with three photos: a thumbnail opens the in-page viewer, which
zooms with its buttons and + / -, moves between photos with its buttons and the arrow keys,
closes on Escape and gives focus back to the thumbnail. Checked at 1280 and 390 px (no sideways
scroll, no serious axe-core violation); screenshots go to ``test-artifacts/portal/``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chromium, need_browser
from tests.portal.live import AXE, FITS, Live, live_server, scan, shot
from tests.review.support import add_photos, build_case

pytestmark = pytest.mark.slow

OPEN = "document.getElementById('viewer').open"
CAPTION = "#viewer-caption"


@pytest.fixture(scope="module")
def live(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    need_browser()
    with live_server(sqlite_template, tmp_path_factory.mktemp("viewer-live")) as server:
        yield server


@pytest.fixture(scope="module")
def case_id(live: Live) -> str:
    """Patient A's draft case with three photos."""
    created = build_case(live.world, "draft")
    add_photos(live.world, created, 3, size=(800, 600))
    return str(created)


def _photo_srcs(page: Any) -> list[str]:
    return list(
        page.eval_on_selector_all(
            "[data-viewer-photo] img", "nodes => nodes.map(n => n.getAttribute('src'))"
        )
    )


def _loaded(page: Any) -> None:
    page.wait_for_function(
        "() => { const i = document.getElementById('viewer-image');"
        " return i.complete && i.naturalWidth > 0; }"
    )


def _shown(page: Any) -> tuple[str, str]:
    """The viewer's caption and the photo it shows."""
    _loaded(page)
    return (
        page.inner_text(CAPTION),
        page.get_attribute("#viewer-image", "src") or "",
    )


def _width(page: Any) -> float:
    return float(
        page.evaluate("document.getElementById('viewer-image').getBoundingClientRect().width")
    )


@pytest.mark.parametrize("width", [1280, 390])
def test_photos_open_in_the_viewer_zoom_and_step_by_buttons_and_keys(
    live: Live, case_id: str, width: int
) -> None:
    assert AXE.exists(), "run `npm ci` for axe-core"
    problems: list[str] = []
    errors: list[str] = []
    with chromium() as browser:
        context = browser.new_context(viewport={"width": width, "height": 844})
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        live.sign_in(page, "patient_a")
        page.goto(live.url(f"/review/cases/{case_id}"))
        page.wait_for_load_state("networkidle")
        srcs = _photo_srcs(page)
        assert len(srcs) == 3
        assert all(src.startswith(f"/v1/cases/{case_id}/media/") for src in srcs)
        assert page.evaluate(FITS), f"the case page scrolls sideways at {width} px"
        problems.extend(scan(page))
        shot(page, f"review-viewer-{width}-1-case")

        page.click("[data-viewer-photo='1']")
        assert page.evaluate(OPEN)
        assert _shown(page) == ("Photo 1 of 3", srcs[0])
        fitted = _width(page)
        assert fitted > 0

        # Zoom: the buttons and the keys + and -, and Fit back to the whole photo.
        page.click("#viewer-zoom-in")
        assert page.get_attribute("#viewer", "data-zoom") == "1.5"
        assert _width(page) > fitted * 1.4
        page.keyboard.press("+")
        assert page.get_attribute("#viewer", "data-zoom") == "2.25"
        assert page.evaluate(FITS), f"the zoomed viewer scrolls the page sideways at {width} px"
        shot(page, f"review-viewer-{width}-2-zoomed")
        page.keyboard.press("-")
        assert page.get_attribute("#viewer", "data-zoom") == "1.5"
        page.click("#viewer-zoom-out")
        assert page.get_attribute("#viewer", "data-zoom") == "1"
        page.click("#viewer-zoom-in")
        page.click("#viewer-fit")
        assert page.get_attribute("#viewer", "data-zoom") == "1"
        assert abs(_width(page) - fitted) < 1

        # Previous and next: the buttons and the arrow keys, round the ends.
        page.click("#viewer-next")
        assert _shown(page) == ("Photo 2 of 3", srcs[1])
        page.keyboard.press("ArrowRight")
        assert _shown(page) == ("Photo 3 of 3", srcs[2])
        page.keyboard.press("ArrowRight")
        assert _shown(page) == ("Photo 1 of 3", srcs[0])
        page.keyboard.press("ArrowLeft")
        assert _shown(page) == ("Photo 3 of 3", srcs[2])
        page.click("#viewer-prev")
        assert _shown(page) == ("Photo 2 of 3", srcs[1])
        assert page.evaluate(FITS), f"the viewer scrolls the page sideways at {width} px"
        problems.extend(scan(page))
        shot(page, f"review-viewer-{width}-3-photo-2")

        # Escape closes it, and focus is back on the thumbnail that opened it.
        page.keyboard.press("Escape")
        assert not page.evaluate(OPEN)
        assert page.evaluate("document.activeElement.dataset.viewerPhoto") == "1"
        # The Close button closes it too, back to the thumbnail of photo 3.
        page.click("[data-viewer-photo='3']")
        assert _shown(page) == ("Photo 3 of 3", srcs[2])
        page.click("#viewer-close")
        assert not page.evaluate(OPEN)
        assert page.evaluate("document.activeElement.dataset.viewerPhoto") == "3"
        # Opened on its own (the file's link), a photo shows under the media route's policy.
        page.goto(live.url(srcs[1]))
        assert page.evaluate("document.images.length === 1 && document.images[0].naturalWidth")
        context.close()
    assert not errors, errors
    assert not problems, problems
