"""``telehealth keys ...``: storage key management (the app secret's commands, which are
identity's, are added to the group by telehealth/cli.py).

KEKs come only from the ``TELEHEALTH_STORAGE_KEKS`` environment variable (first = current),
never from the command line, so they stay out of shell history and process listings.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from telehealth.config import Settings
from telehealth.errors import DomainError, ErrorCode
from telehealth.storage.keyring import Kek, Keyring
from telehealth.storage.local import LocalBlobStore
from telehealth.storage.ports import BlobStore
from telehealth.storage.service import RotationReport, rotate_keys

KEKS_ENV = "TELEHEALTH_STORAGE_KEKS"

keys_app = typer.Typer(
    help="Manage keys: the blob store's key-encryption keys and the app secret.",
    no_args_is_help=True,
)


def _keyring_from_env() -> Keyring:
    settings = Settings()
    # The settings' development default is never what an operator means to rotate to.
    given = "storage_keks" in settings.model_fields_set
    text = settings.storage_keks.get_secret_value() if given else ""
    if not text.strip():
        raise DomainError(ErrorCode.CONFIGURATION, f"{KEKS_ENV} is not set")
    return Keyring.from_config(text)


def _open_store(
    data_dir: Path | None,
    s3_bucket: str | None,
    s3_endpoint: str | None,
    s3_region: str | None,
    s3_prefix: str,
) -> BlobStore:
    if (data_dir is None) == (s3_bucket is None):
        raise DomainError(ErrorCode.INVALID_INPUT, "give exactly one of --data-dir or --s3-bucket")
    if s3_bucket is not None:
        import boto3

        from telehealth.storage.s3 import S3BlobStore

        client = boto3.client("s3", endpoint_url=s3_endpoint, region_name=s3_region)
        return S3BlobStore(client, s3_bucket, prefix=s3_prefix)
    if data_dir is None or not data_dir.is_dir():
        raise DomainError(ErrorCode.NOT_FOUND, "data directory not found")
    return LocalBlobStore(data_dir)


def format_report(report: RotationReport) -> str:
    line = f"rewrapped {report.rewrapped}, already current {report.already_current}"
    if report.staged_rewrapped:
        line += f", staged uploads rewrapped {report.staged_rewrapped}"
    if report.failed:
        line += f", failed {len(report.failed)}"
    return line


@keys_app.command("rotate")
def rotate(
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Local blob store root."),
    s3_bucket: str | None = typer.Option(None, "--s3-bucket", help="S3 bucket of the store."),
    s3_endpoint: str | None = typer.Option(
        None, "--s3-endpoint", help="S3-compatible endpoint URL (default: AWS)."
    ),
    s3_region: str | None = typer.Option(None, "--s3-region", help="S3 region name."),
    s3_prefix: str = typer.Option("", "--s3-prefix", help="Key prefix inside the bucket."),
) -> None:
    """Re-wrap every data key under the current KEK; blob contents are not rewritten."""
    try:
        keyring = _keyring_from_env()
        store = _open_store(data_dir, s3_bucket, s3_endpoint, s3_region, s3_prefix)
        report = rotate_keys(store, keyring)
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(code=2 if exc.code is ErrorCode.INVALID_INPUT else 1) from None
    typer.echo(format_report(report))
    for blob_id in report.failed:
        typer.echo(f"failed: {blob_id}", err=True)
    if report.failed:
        raise typer.Exit(code=1)


@keys_app.command("generate")
def generate(
    kek_id: str = typer.Option(..., "--id", help="Id of the new KEK, e.g. k2."),
) -> None:
    """Print a new KEK entry; prepend it to TELEHEALTH_STORAGE_KEKS, then run rotate."""
    try:
        entry = Keyring([Kek(kek_id, os.urandom(32))]).to_config()
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(entry)
