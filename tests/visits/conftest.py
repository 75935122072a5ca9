"""Fixtures for the visit tests that drive Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import chromium, need_browser


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's Chromium, launched for one test (skipped, or failed in CI, when absent)."""
    need_browser()
    with chromium() as launched:
        yield launched
