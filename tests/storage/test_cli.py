"""``keys rotate`` and ``keys generate``."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from typer.testing import CliRunner

from telehealth.storage import EncryptedBlobs, Kek, Keyring, LocalBlobStore
from telehealth.storage.cli import KEKS_ENV, keys_app
from telehealth.storage.s3 import S3BlobStore

K1 = Kek("k1", bytes(range(32)))
K2 = Kek("k2", bytes(range(50, 82)))
runner = CliRunner()


def config(*keks: Kek) -> str:
    return Keyring(keks).to_config()


def test_rotate_local_store(tmp_path: Path) -> None:
    blobs = EncryptedBlobs(LocalBlobStore(tmp_path), Keyring([K1]))
    ids = [blobs.put([b"x" * i], content_type="text/plain").blob_id for i in range(3)]
    env = {KEKS_ENV: config(K2, K1)}

    first = runner.invoke(keys_app, ["rotate", "--data-dir", str(tmp_path)], env=env)
    assert first.exit_code == 0, first.output
    assert "rewrapped 3, already current 0" in first.output
    second = runner.invoke(keys_app, ["rotate", "--data-dir", str(tmp_path)], env=env)
    assert "rewrapped 0, already current 3" in second.output

    reader = EncryptedBlobs(LocalBlobStore(tmp_path), Keyring([K2]))
    assert [len(b"".join(reader.open(i))) for i in ids] == [0, 1, 2]


def test_rotate_s3_store(s3_endpoint: str, s3_store: S3BlobStore) -> None:
    EncryptedBlobs(s3_store, Keyring([K1])).put([b"x"], content_type="text/plain")
    env = {
        KEKS_ENV: config(K2, K1),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    args = ["rotate", "--s3-bucket", s3_store.bucket, "--s3-endpoint", s3_endpoint]
    result = runner.invoke(keys_app, [*args, "--s3-prefix", s3_store.prefix], env=env)
    assert result.exit_code == 0, result.output
    assert "rewrapped 1, already current 0" in result.output


def test_rotate_without_keys_fails_cleanly(tmp_path: Path) -> None:
    result = runner.invoke(keys_app, ["rotate", "--data-dir", str(tmp_path)], env={KEKS_ENV: ""})
    assert result.exit_code == 1
    assert KEKS_ENV in result.output


def test_rotate_never_falls_back_to_the_development_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEKS_ENV, raising=False)
    result = runner.invoke(keys_app, ["rotate", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert KEKS_ENV in result.output


def test_rotate_needs_exactly_one_store(tmp_path: Path) -> None:
    env = {KEKS_ENV: config(K1)}
    neither = runner.invoke(keys_app, ["rotate"], env=env)
    both = runner.invoke(
        keys_app, ["rotate", "--data-dir", str(tmp_path), "--s3-bucket", "b"], env=env
    )
    assert neither.exit_code == both.exit_code == 2


def test_bad_key_is_not_echoed(tmp_path: Path) -> None:
    short = base64.b64encode(b"k" * 16).decode()
    result = runner.invoke(
        keys_app, ["rotate", "--data-dir", str(tmp_path)], env={KEKS_ENV: f"k1:{short}"}
    )
    assert result.exit_code == 1
    assert short not in result.output


def test_generate_prints_a_usable_entry() -> None:
    result = runner.invoke(keys_app, ["generate", "--id", "k3"])
    assert result.exit_code == 0
    keyring = Keyring.from_config(result.output.strip())
    assert keyring.current.kek_id == "k3"
