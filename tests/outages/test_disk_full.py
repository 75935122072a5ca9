"""The data directory's filesystem full during a tus upload: an 8 MiB tmpfs mounted as the data
directory and filled up. The PATCH answers 503 with a problem body, nothing staged is corrupt,
and once space is freed the upload resumes and completes with the same SHA-256."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from telehealth.app import create_app
from telehealth.clock import FrozenClock
from telehealth.config import Settings
from tests.review.test_uploads import TUS, _case, _create, _draft, _patch, _pdf
from tests.support import World

pytestmark = pytest.mark.db

MIB = 1024 * 1024


@pytest.fixture
def small_data_dir(settings: Settings) -> Iterator[Path]:
    """``settings.data_dir`` as its own 8 MiB filesystem."""
    path = settings.data_dir
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        reason = "mounting a tmpfs needs root (or CAP_SYS_ADMIN)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}, which CI has: {mounted.stderr.decode(errors='replace')}")
        pytest.skip(reason)
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=False)


def _fill(directory: Path, leave: int) -> Path:
    """Takes all but about ``leave`` bytes of the filesystem's free space."""
    filler = directory / "filler"
    stats = os.statvfs(directory)
    free = stats.f_bavail * stats.f_frsize
    with filler.open("wb") as handle, contextlib.suppress(OSError):
        handle.write(b"\0" * max(0, free - leave))
    return filler


@pytest.fixture
def disk_client(
    settings: Settings, clock: FrozenClock, small_data_dir: Path
) -> Iterator[TestClient]:
    app = create_app(settings, clock=clock)
    with TestClient(app) as client:
        yield client
    app.state.services.engine.dispose()


def test_upload_on_a_full_disk_answers_503_and_resumes_once_space_is_freed(
    disk_client: TestClient, world: World, small_data_dir: Path
) -> None:
    client = disk_client
    data = _pdf(3 * MIB)
    case_id = _draft(client, world)
    url = _create(client, world, case_id, len(data), filetype="application/pdf").headers["location"]
    first = _patch(client, world, url, 0, data[:MIB])
    assert first.status_code == 204

    filler = _fill(small_data_dir, leave=MIB // 2)
    full = _patch(client, world, url, MIB, data[MIB:])
    assert full.status_code == 503
    assert full.headers["content-type"] == "application/problem+json"
    assert full.json()["code"] == "unavailable"
    assert str(small_data_dir) not in full.text
    head = client.head(url, headers={**world["patient_a"].headers, **TUS})
    assert head.status_code == 200
    offset = int(head.headers["upload-offset"])
    assert MIB <= offset < len(data)

    filler.unlink()
    done = _patch(client, world, url, offset, data[offset:])
    assert done.status_code == 204, done.text
    [item] = _case(client, world, case_id)["media"]
    assert item["sha256"] == item["upload_sha256"] == hashlib.sha256(data).hexdigest()
    download = client.get(item["download"], headers=world["patient_a"].headers)
    assert hashlib.sha256(download.content).hexdigest() == hashlib.sha256(data).hexdigest()
