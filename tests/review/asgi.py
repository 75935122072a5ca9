"""App factory for tests that run the real server (``uvicorn --factory``), configured from
``TELEHEALTH_*`` environment variables and tuned as ``telehealth serve`` tunes its process;
background jobs stay off so tests decide when they run."""

from __future__ import annotations

from fastapi import FastAPI

from telehealth.app import serving_app
from telehealth.config import load_settings


def create() -> FastAPI:
    return serving_app(load_settings(), run_jobs=False)
