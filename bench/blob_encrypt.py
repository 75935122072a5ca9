"""Throughput of blob encryption at rest.

Baseline: the stream cipher alone (AES-256-GCM chunks, same format) writing straight to one
file with a final fsync. Compared with ``EncryptedBlobs.put`` through the local store, which
adds SHA-256 of the plaintext, the key record and the atomic publish (fsync, rename, fsync dir).
The upload benchmark compares against the baseline figure printed here.

    .venv/bin/python bench/blob_encrypt.py [--size-mib 256] [--runs 3] [--dir PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from telehealth.storage import EncryptedBlobs, Keyring, LocalBlobStore, crypto, new_blob_id
from telehealth.storage.service import rechunk

MIB = 1024 * 1024


def plaintext(size_mib: int, chunk_size: int) -> Iterator[bytes]:
    block = os.urandom(chunk_size)
    for _ in range(size_mib * MIB // chunk_size):
        yield block


def baseline(directory: Path, size_mib: int, chunk_size: int) -> float:
    """Seconds to encrypt ``size_mib`` MiB and write it to a file with fsync."""
    key = crypto.new_data_key()
    path = directory / "baseline.bin"
    started = time.perf_counter()
    chunks = rechunk(plaintext(size_mib, chunk_size), chunk_size)
    with path.open("wb") as handle:
        for piece in crypto.encrypt_stream(key, new_blob_id(), chunks, chunk_size=chunk_size):
            handle.write(piece)
        handle.flush()
        os.fsync(handle.fileno())
    elapsed = time.perf_counter() - started
    path.unlink()
    return elapsed


def service_put(directory: Path, size_mib: int, chunk_size: int) -> float:
    """Seconds for EncryptedBlobs.put of ``size_mib`` MiB through the local store."""
    blobs = EncryptedBlobs(
        LocalBlobStore(directory / "store"), Keyring.generate(), chunk_size=chunk_size
    )
    started = time.perf_counter()
    stored = blobs.put(plaintext(size_mib, chunk_size), content_type="application/octet-stream")
    elapsed = time.perf_counter() - started
    blobs.delete(stored.blob_id)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--chunk-size", type=int, default=crypto.DEFAULT_CHUNK_SIZE)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: tmp)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        directory = Path(tmp)
        baseline(directory, 16, args.chunk_size)  # warm-up: page cache, imports, allocator
        base_runs, put_runs = [], []
        for _ in range(args.runs):
            base_runs.append(baseline(directory, args.size_mib, args.chunk_size))
            put_runs.append(service_put(directory, args.size_mib, args.chunk_size))

    base_rate = args.size_mib / statistics.median(base_runs)
    put_rate = args.size_mib / statistics.median(put_runs)
    print(f"size: {args.size_mib} MiB, chunk: {args.chunk_size // 1024} KiB, runs: {args.runs}")
    print(f"baseline (AES-256-GCM stream -> file + fsync): {base_rate:8.1f} MiB/s")
    print(f"EncryptedBlobs.put (local store)             : {put_rate:8.1f} MiB/s")
    print(f"ratio put / baseline                          : {put_rate / base_rate:8.2f}")


if __name__ == "__main__":
    main()
