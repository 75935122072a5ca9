"""App factory for tests that run the real server (``uvicorn --factory``), configured from
``TELEHEALTH_*`` environment variables."""

from __future__ import annotations

from fastapi import FastAPI

from telehealth.app import create_app
from telehealth.config import load_settings


def create() -> FastAPI:
    return create_app(load_settings())
