"""A real uvicorn server on loopback with the portal mounted and a world that signs in with
passwords (SQLite, system clock), plus the browser those tests drive."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyotp
from fastapi import FastAPI

from telehealth.app import create_app
from telehealth.clock import FrozenClock
from telehealth.config import Environment, Settings, VisitSettings
from tests.serving import serving
from tests.support import PASSWORD, World, seed_world
from tests.visits.live import LIVE_LEAD_MINUTES

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "portal"
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# No sideways scroll: the page is no wider than the viewport.
FITS = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"


def scan(page: Any) -> list[str]:
    """The page's serious and critical axe-core violations, one line each."""
    # Injected through the DevTools protocol: a script tag would need the CSP relaxed, and
    # the pages are scanned under their real policy.
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{page.url.removeprefix('http://')}: {v['id']} ({v['impact']}) x{len(v['nodes'])}"
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


@dataclass
class Live:
    base_url: str
    app: FastAPI
    world: World
    # The last TOTP step used per user: a code is accepted once, so each sign-in needs a newer one.
    totp_steps: dict[str, int] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base_url + path

    def next_code(self, key: str) -> str:
        secret = self.world[key].totp_secret
        assert secret is not None
        totp = pyotp.TOTP(secret)
        step = max(int(time.time()) // totp.interval, self.totp_steps.get(key, 0) + 1)
        self.totp_steps[key] = step
        return totp.generate_otp(step)

    def sign_in(self, page: Any, key: str) -> None:
        person = self.world[key]
        page.goto(self.url("/login"))
        page.fill("#email", person.email)
        page.fill("#password", PASSWORD)
        if person.totp_secret:
            page.fill("#totp", self.next_code(key))
        page.click("form[action='/login'] button[type=submit]")
        page.wait_for_url(self.url("/"))


@contextmanager
def live_server(template: Path, workdir: Path) -> Iterator[Live]:
    database = workdir / "live.db"
    shutil.copyfile(template, database)
    settings = Settings(
        env=Environment.TEST,
        data_dir=workdir / "data",
        database_url=f"sqlite:///{database}",
        api_token_minutes=24 * 60,
        visits=VisitSettings(waiting_room_lead_minutes=LIVE_LEAD_MINUTES),
    )
    world = seed_world(settings, FrozenClock(datetime.now(UTC)), with_passwords=True)
    app = create_app(settings)
    with serving(app) as url:
        yield Live(url, app, world)


def shot(page: Any, name: str, folder: Path = ARTIFACTS) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
