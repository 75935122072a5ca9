"""``python -m tests.cluster.restored --verify``: run by ``scripts/cluster restore-check`` with
the settings of the restored copy. Every stored review medium the restored database names is
read back from the restored bucket, authenticated and decrypted with the deployment's keys, and
must have the recorded size and SHA-256."""

from __future__ import annotations

import sys

from sqlalchemy import text

from telehealth.config import load_settings
from telehealth.db.engine import make_engine
from telehealth.storage import EncryptedBlobs, Keyring
from telehealth.storage.configured import configured_store


def verify() -> str:
    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT blob_id, size, sha256 FROM review_media")).all()
    engine.dispose()
    blobs = EncryptedBlobs(
        configured_store(settings), Keyring.from_config(settings.storage_keks.get_secret_value())
    )
    wrong = [blob_id for blob_id, size, sha in rows if blobs.verify(blob_id) != (size, sha)]
    if wrong:
        raise SystemExit(f"{len(wrong)} of {len(rows)} restored blobs differ: {wrong}")
    return f"{len(rows)} media blobs decrypt to their recorded SHA-256"


if __name__ == "__main__":
    if sys.argv[1:] != ["--verify"]:
        raise SystemExit("usage: python -m tests.cluster.restored --verify")
    sys.stdout.write(verify() + "\n")
