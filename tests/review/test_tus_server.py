"""tus conformance with the tuspy client against a real server, and kill -9 mid-upload."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from tusclient import client as tus_client
from tusclient.uploader import Uploader

from telehealth.config import Settings
from telehealth.review.uploads import APPEND_SIZE
from tests.review.server import Server, real_clock_world, running
from tests.review.support import case_body, image_with_gps
from tests.support import World

pytestmark = [pytest.mark.db, pytest.mark.slow]

MIB = 1024 * 1024


class Sha256Uploader(Uploader):  # type: ignore[misc]
    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


@pytest.fixture
def people(settings: Settings) -> World:
    return real_clock_world(settings)


@pytest.fixture
def server(settings: Settings, people: World) -> Iterator[Server]:
    with running(settings) as handle:
        yield handle


def _draft_case(server: Server, world: World) -> str:
    response = requests.post(
        f"{server.url}/v1/cases", json=case_body(), headers=world["patient_a"].headers, timeout=30
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _case(server: Server, world: World, case_id: str) -> dict[str, Any]:
    response = requests.get(
        f"{server.url}/v1/cases/{case_id}", headers=world["patient_a"].headers, timeout=30
    )
    body: dict[str, Any] = response.json()
    return body


def _pdf(size: int) -> bytes:
    return b"%PDF-1.7\n" + os.urandom(size - 9)


def test_tuspy_uploads_with_and_without_checksums_and_resumes(
    server: Server, people: World
) -> None:
    case_id = _draft_case(server, people)
    client = tus_client.TusClient(f"{server.url}/v1/uploads/", headers=people["patient_a"].headers)
    files = {
        "plain.pdf": (_pdf(700_000), Uploader, {}),
        "sha1.pdf": (_pdf(300_000), Uploader, {"upload_checksum": True}),
        "sha256.pdf": (_pdf(300_000), Sha256Uploader, {"upload_checksum": True}),
    }
    for name, (data, kind, options) in files.items():
        uploader = kind(
            file_stream=io.BytesIO(data),
            client=client,
            chunk_size=128 * 1024,
            metadata={"case_id": case_id, "filename": name, "filetype": "application/pdf"},
            **options,
        )
        uploader.upload()
    # Resume: a second client picks up an interrupted upload at the server's offset.
    photo = image_with_gps("JPEG", (800, 600))
    first = Uploader(
        file_stream=io.BytesIO(photo),
        client=client,
        chunk_size=8 * 1024,
        metadata={"case_id": case_id, "filename": "photo.jpg"},
    )
    first.upload_chunk()
    resumed = Uploader(
        file_stream=io.BytesIO(photo), client=client, url=first.url, chunk_size=8 * 1024
    )
    assert resumed.offset == 8 * 1024
    resumed.upload()

    media = {m["filename"]: m for m in _case(server, people, case_id)["media"]}
    for name, (data, _kind, _options) in files.items():
        assert media[name]["sha256"] == hashlib.sha256(data).hexdigest()
    assert media["photo.jpg"]["upload_sha256"] == hashlib.sha256(photo).hexdigest()
    assert media["photo.jpg"]["kind"] == "image"


def _slow_body(data: bytes, hold_after: int, release: threading.Event) -> Iterator[bytes]:
    """Send the first ``hold_after`` bytes, then wait (the server is killed meanwhile)."""
    for start in range(0, hold_after, MIB):
        yield data[start : start + MIB]
    release.wait(timeout=60)
    yield data[hold_after : hold_after + MIB]


def _offset(server: Server, url: str, world: World) -> int:
    response = requests.head(
        url, headers={**world["patient_a"].headers, "Tus-Resumable": "1.0.0"}, timeout=30
    )
    assert response.status_code == 200
    return int(response.headers["upload-offset"])


def test_kill_9_mid_upload_then_resume_gives_identical_sha256(
    server: Server, people: World, settings: Settings
) -> None:
    data = _pdf(3 * APPEND_SIZE + 4 * MIB)
    hold_after = APPEND_SIZE + 2 * MIB  # one append's worth, and more in flight
    case_id = _draft_case(server, people)
    client = tus_client.TusClient(f"{server.url}/v1/uploads/", headers=people["patient_a"].headers)
    uploader = Uploader(
        file_stream=io.BytesIO(data),
        client=client,
        chunk_size=MIB,
        metadata={"case_id": case_id, "filename": "scan.pdf"},
    )
    url = uploader.create_url()
    path = url.removeprefix(server.url)

    release = threading.Event()
    failures: list[BaseException] = []

    def send() -> None:
        headers = {
            **people["patient_a"].headers,
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        }
        try:
            requests.patch(
                url, data=_slow_body(data, hold_after, release), headers=headers, timeout=60
            )
        except requests.RequestException as exc:
            failures.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    # Wait until the server reports durable bytes while the PATCH is still open, then kill it.
    deadline = time.monotonic() + 60
    while _offset(server, url, people) == 0:
        assert time.monotonic() < deadline, "no bytes became durable"
        time.sleep(0.05)
    server.kill9()
    release.set()
    sender.join(timeout=60)
    assert failures, "the PATCH must have been cut off by the kill"

    restarted = Server(settings, port=server.port).start()
    try:
        offset = _offset(restarted, f"{restarted.url}{path}", people)
        assert 0 < offset <= hold_after
        resumed = Uploader(file_stream=io.BytesIO(data), client=client, url=url, chunk_size=MIB)
        assert resumed.offset == offset
        resumed.upload()
        [item] = _case(restarted, people, case_id)["media"]
    finally:
        restarted.stop()
    assert item["sha256"] == item["upload_sha256"] == hashlib.sha256(data).hexdigest()
    assert item["size"] == len(data)


def test_slow_upload_bodies_do_not_hold_back_other_requests(
    settings: Settings, people: World
) -> None:
    """More uploads than there are request places wait on their clients at once; reads are still
    answered, and every upload finishes once its client sends the rest."""
    places = 2
    handle = Server(settings)
    handle.env["TELEHEALTH_WORKER_THREADS"] = str(places)
    handle.start()
    try:
        case_id = _draft_case(handle, people)
        client = tus_client.TusClient(
            f"{handle.url}/v1/uploads/", headers=people["patient_a"].headers
        )
        files = [_pdf(APPEND_SIZE + 2 * MIB) for _ in range(places + 1)]
        urls = [
            Uploader(
                file_stream=io.BytesIO(data),
                client=client,
                chunk_size=MIB,
                metadata={"case_id": case_id, "filename": f"scan{n}.pdf"},
            ).create_url()
            for n, data in enumerate(files)
        ]
        release = threading.Event()
        statuses: list[int] = []

        def send(url: str, data: bytes) -> None:
            headers = {
                **people["patient_a"].headers,
                "Tus-Resumable": "1.0.0",
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
            }
            body = _slow_body(data, APPEND_SIZE + MIB, release)
            rest = data[APPEND_SIZE + 2 * MIB :]
            statuses.append(
                requests.patch(
                    url, data=_and_then(body, rest), headers=headers, timeout=60
                ).status_code
            )

        senders = [
            threading.Thread(target=send, args=(url, data))
            for url, data in zip(urls, files, strict=True)
        ]
        for sender in senders:
            sender.start()
        try:
            # Every upload has durable bytes while its PATCH is still open: all are receiving.
            deadline = time.monotonic() + 30
            for url in urls:
                while _offset(handle, url, people) == 0:
                    assert time.monotonic() < deadline, "an upload never started receiving"
                    time.sleep(0.05)
            read = requests.get(
                f"{handle.url}/v1/cases/{case_id}", headers=people["patient_a"].headers, timeout=10
            )
            assert read.status_code == 200
        finally:
            release.set()
            for sender in senders:
                sender.join(timeout=60)
        assert statuses == [204] * len(files)
        media = _case(handle, people, case_id)["media"]
        assert sorted(m["sha256"] for m in media) == sorted(
            hashlib.sha256(data).hexdigest() for data in files
        )
    finally:
        handle.stop()


def _and_then(first: Iterator[bytes], rest: bytes) -> Iterator[bytes]:
    yield from first
    if rest:
        yield rest
