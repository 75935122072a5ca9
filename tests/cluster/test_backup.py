"""Backup and a tested restore: ``scripts/cluster backup`` (pg_dump, every object of the
bucket, the audit checkpoints) then ``scripts/cluster restore-check`` (restores beside the live
data and verifies: audit chains against the checkpoints, every medium decrypting to its
recorded SHA-256, the bucket object for object)."""

from __future__ import annotations

import io
import os

import requests
from tusclient import client as tus_client
from tusclient.uploader import Uploader

from tests.cluster import topology
from tests.review.support import case_body
from tests.support import World


def test_a_backup_restores_and_verifies(world: World) -> None:
    patient = world["patient_a"].headers
    made = requests.post(
        f"{topology.PUBLIC_URL}/v1/cases", json=case_body(), headers=patient, timeout=30
    )
    assert made.status_code == 201, made.text
    data = b"%PDF-1.7\n" + os.urandom(300_000)
    Uploader(
        file_stream=io.BytesIO(data),
        client=tus_client.TusClient(f"{topology.PUBLIC_URL}/v1/uploads/", headers=patient),
        chunk_size=128 * 1024,
        metadata={"case_id": made.json()["id"], "filename": "scan.pdf"},
    ).upload()
    # Sign the chains' heads now, so that the backup's checkpoints cover this run's rows.
    topology.run_cli("audit", "verify", "--checkpoint")

    backup = topology.backup()
    checked = topology.restore_check(backup)

    assert backup.database.stat().st_size > 0
    # The medium and its wrapped data key, at least.
    assert len([path for path in backup.blobs.rglob("*") if path.is_file()]) >= 2
    assert (backup.path / "audit-checkpoints.json").exists()
    assert any("media blobs decrypt" in line and not line.startswith("0 ") for line in checked)
    assert any("objects restored" in line for line in checked), checked
