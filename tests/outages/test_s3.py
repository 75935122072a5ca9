"""Object storage (moto's S3 server behind a TCP proxy the test cuts) unreachable while a tus
upload finishes: the PATCH answers 503 with the offset unchanged, and the upload resumes and
completes with the same SHA-256 once the store is reachable again."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from telehealth.app import create_app
from telehealth.clock import FrozenClock
from telehealth.config import Settings
from tests.outages.services import TcpProxy
from tests.review.test_uploads import TUS, _case, _create, _draft, _patch, _pdf
from tests.support import World

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

pytestmark = pytest.mark.db


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[TcpProxy]:
    handle = TcpProxy(int(s3_endpoint.rsplit(":", 1)[1]))
    try:
        yield handle
    finally:
        handle.close()


@pytest.fixture
def s3_settings(
    settings: Settings, proxy: TcpProxy, s3_client: S3Client, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    bucket = f"outage-{uuid.uuid4().hex}"
    s3_client.create_bucket(Bucket=bucket)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return settings.model_copy(
        update={
            "blob_backend": "s3",
            "s3_bucket": bucket,
            "s3_endpoint_url": f"http://127.0.0.1:{proxy.port}",
        }
    )


@pytest.fixture
def s3_client_app(s3_settings: Settings, clock: FrozenClock) -> Iterator[TestClient]:
    app = create_app(s3_settings, clock=clock)
    with TestClient(app) as client:
        yield client
    app.state.services.engine.dispose()


def test_upload_finishing_while_s3_is_down_answers_503_and_resumes_after(
    s3_client_app: TestClient, world: World, proxy: TcpProxy
) -> None:
    client = s3_client_app
    data = _pdf(200_000)
    half = len(data) // 2
    case_id = _draft(client, world)
    url = _create(client, world, case_id, len(data), filetype="application/pdf").headers["location"]
    assert _patch(client, world, url, 0, data[:half]).status_code == 204

    proxy.cut()
    refused = _patch(client, world, url, half, data[half:])
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "unavailable"
    head = client.head(url, headers={**world["patient_a"].headers, **TUS})
    assert head.headers["upload-offset"] == str(half)
    assert _case(client, world, case_id)["media"] == []

    proxy.restore()
    done = _patch(client, world, url, half, data[half:])
    assert done.status_code == 204, done.text
    [item] = _case(client, world, case_id)["media"]
    assert item["sha256"] == item["upload_sha256"] == hashlib.sha256(data).hexdigest()
    download = client.get(item["download"], headers=world["patient_a"].headers)
    assert hashlib.sha256(download.content).hexdigest() == hashlib.sha256(data).hexdigest()
