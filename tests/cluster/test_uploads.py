"""A tus upload (tuspy) whose PATCHes alternate between the instances, one instance killed -9
in the middle of a PATCH: it completes with the same SHA-256 and leaves nothing half-written
in the bucket."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import requests
from tusclient import client as tus_client
from tusclient.uploader import Uploader

from telehealth.review.uploads import APPEND_SIZE
from tests.cluster import topology
from tests.cluster.conftest import pinned, served_by
from tests.review.support import case_body
from tests.support import World

MIB = 1024 * 1024
BASE = topology.PUBLIC_URL


def _objects() -> list[dict[str, Any]]:
    client: Any = topology.s3_client()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=topology.BUCKET)
    return [item for page in pages for item in page.get("Contents", [])]


def _multipart_uploads() -> list[dict[str, Any]]:
    client: Any = topology.s3_client()
    found: list[dict[str, Any]] = client.list_multipart_uploads(Bucket=topology.BUCKET).get(
        "Uploads", []
    )
    return found


def _offset(url: str, world: World, instance: str, busy: int = -1) -> tuple[int, str]:
    """The upload's offset as ``instance`` (or whoever stands in for it) reports it; ``busy``
    when the instance answers 409 because the upload is busy with a PATCH it is resuming."""
    response = requests.head(
        url,
        headers={**world["patient_a"].headers, "Tus-Resumable": "1.0.0", **pinned(instance)},
        timeout=30,
    )
    if response.status_code == 409 and busy >= 0:
        return busy, served_by(response)
    assert response.status_code == 200, response.text
    return int(response.headers["upload-offset"]), served_by(response)


def _slow_body(data: bytes, hold_after: int, release: threading.Event) -> Iterator[bytes]:
    """Send the first ``hold_after`` bytes, then wait while the instance is killed."""
    for start in range(0, hold_after, MIB):
        yield data[start : min(start + MIB, hold_after)]
    release.wait(timeout=60)
    yield data[hold_after:]


def test_patches_alternate_between_instances_and_survive_a_kill(world: World) -> None:
    patient = world["patient_a"].headers
    made = requests.post(f"{BASE}/v1/cases", json=case_body(), headers=patient, timeout=30)
    assert made.status_code == 201, made.text
    case_id = made.json()["id"]
    data = b"%PDF-1.7\n" + os.urandom(4 * APPEND_SIZE + 3 * MIB - 9)
    before = {item["Key"] for item in _objects()}

    client = tus_client.TusClient(f"{BASE}/v1/uploads/", headers=dict(patient))
    uploader = Uploader(
        file_stream=io.BytesIO(data),
        client=client,
        chunk_size=APPEND_SIZE,
        metadata={"case_id": case_id, "filename": "scan.pdf", "filetype": "application/pdf"},
        retries=5,
        retry_delay=1,
    )
    uploader.set_url(uploader.create_url())
    served: list[str] = []

    # Two whole PATCHes, on a then b.
    for name in ("a", "b"):
        client.headers = {**patient, **pinned(name)}
        uploader.upload_chunk()
        served.append(_offset(uploader.url, world, name)[1])
    assert served == ["a", "b"]

    # The next PATCH goes to c, which is killed while it is receiving: some of its bytes are
    # durable (c's offset moved past b's) and the request is still open.
    start = uploader.offset
    hold_after = APPEND_SIZE + 2 * MIB
    release = threading.Event()
    failures: list[BaseException] = []
    outcome: list[int] = []

    def send() -> None:
        headers = {
            **patient,
            **pinned("c"),
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": str(start),
            "Content-Type": "application/offset+octet-stream",
        }
        body = _slow_body(data[start : start + 2 * APPEND_SIZE], hold_after, release)
        try:
            response = requests.patch(uploader.url, data=body, headers=headers, timeout=60)
            # HAProxy answers for an instance that died mid-request: 502.
            failures.append(AssertionError(f"PATCH answered {response.status_code}"))
            outcome.append(response.status_code)
        except requests.RequestException as exc:
            failures.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    deadline = time.monotonic() + 60
    while _offset(uploader.url, world, "c", busy=start)[0] == start:
        assert time.monotonic() < deadline, "c never made bytes durable"
        time.sleep(0.05)
    topology.kill_instance("c")
    release.set()
    sender.join(timeout=60)
    assert outcome == [502] or (failures and not outcome), failures

    # The rest alternates between the survivors (a request pinned to c lands on either).
    offset, _ = _offset(uploader.url, world, "a")
    assert start < offset <= start + hold_after
    uploader.offset = offset
    for name in itertools.cycle(("a", "b", "c")):
        if uploader.offset >= len(data):
            break
        client.headers = {**patient, **pinned(name)}
        uploader.upload_chunk()

    case = requests.get(f"{BASE}/v1/cases/{case_id}", headers=patient, timeout=30).json()
    [item] = case["media"]
    assert item["sha256"] == item["upload_sha256"] == hashlib.sha256(data).hexdigest()
    assert item["size"] == len(data)
    # In the bucket: the blob and its key record, nothing else new, no multipart upload left
    # open (a killed instance's half-sent parts would be one).
    added = {item["Key"] for item in _objects()} - before
    assert len(added) == 2, added
    assert not _multipart_uploads()
    # The staging area holds no leftovers of the finished upload.
    staging = topology.STATE / "data" / "s3-staging"
    assert not staging.exists() or not list(staging.iterdir())
