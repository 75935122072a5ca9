"""Throughput of a store-and-forward upload through the tus endpoint, and the server's memory.

Measured: a 256 MiB upload to ``/v1/uploads/`` on loopback, the server in its own process
(served as ``telehealth serve --no-jobs`` serves it), the client streaming PATCH requests of
``--patch-mib`` each. Baseline, same run: encrypting the same number of bytes with the same
cipher and chunk size and writing them to a file with fsync (as in bench/blob_encrypt.py).
Also reported: how much the server's resident memory grew during the upload (target < 64 MiB).

Each timed run, of either side, starts with memory the machine already holds (``warm_memory``):
on a virtual machine that hands free memory back to its host, writing into pages the host must
supply again was measured at a quarter of the usual speed, and which side met such pages
depended on nothing but timing.

    .venv/bin/python bench/review_upload.py [--size-mib 256] [--patch-mib 32] [--rounds 5]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from blob_encrypt import baseline
from harness import seed_patient
from telehealth.config import Environment, Settings
from telehealth.db.migrate import upgrade
from telehealth.storage import crypto

MIB = 1024 * 1024
SERVER = (
    "import sys\n"
    "from telehealth.app import serving_app\n"
    "from telehealth.config import load_settings\n"
    "from telehealth.logging import configure_logging\n"
    "from telehealth.web.server import serve\n"
    "configure_logging()\n"
    "serve(serving_app(load_settings(), run_jobs=False), host='127.0.0.1', port=int(sys.argv[1]))\n"
)


def start_server(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TELEHEALTH_ENV": "test",
        "TELEHEALTH_DATA_DIR": str(settings.data_dir),
        "TELEHEALTH_DATABASE_URL": settings.effective_database_url,
        "TELEHEALTH_REVIEW_MAX_VIDEO_BYTES": str(1024 * MIB),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not start")


def warm_memory(size: int) -> None:
    """Touch ``size`` bytes of fresh memory, then free it for the timed run that follows.

    A guest with free-page reporting returns free memory to its host a couple of seconds after
    it is freed; the pages freed here are reused by the page cache and the server first.
    """
    scratch = bytearray(b"\x01") * size
    del scratch


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class RssWatcher:
    """Samples the server's resident memory while the upload runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.start = rss_kib(pid)
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_kib(self.pid))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return (self.peak - self.start) / 1024


def request(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    token: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> http.client.HTTPResponse:
    conn.request(
        method, path, body=body, headers={"Authorization": f"Bearer {token}", **(headers or {})}
    )
    response = conn.getresponse()
    response.read()
    return response


def new_case(conn: http.client.HTTPConnection, token: str) -> str:
    body = json.dumps(
        {
            "specialty": "dermatology",
            "reason": "bench",
            "location_state": "TX",
            "payer": "commercial",
            "questionnaire": {"id": "general_intake", "version": 1},
            "answers": {"chief_complaint": "bench", "onset": "today"},
        }
    ).encode()
    conn.request(
        "POST",
        "/v1/cases",
        body=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    return str(json.loads(response.read())["id"])


def upload(
    conn: http.client.HTTPConnection, token: str, case_id: str, size: int, block: bytes
) -> float:
    """Seconds for creation plus every PATCH of one upload of ``size`` bytes."""
    meta = ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in {"case_id": case_id, "filename": "clip.mp4", "filetype": "video/mp4"}.items()
    )
    started = time.perf_counter()
    created = request(
        conn,
        "POST",
        "/v1/uploads/",
        token,
        headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(size), "Upload-Metadata": meta},
    )
    location = created.getheader("Location")
    assert created.status == 201, created.status
    assert location
    offset = 0
    while offset < size:
        piece = block[: min(len(block), size - offset)]
        response = request(
            conn,
            "PATCH",
            location,
            token,
            body=piece,
            headers={
                "Tus-Resumable": "1.0.0",
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
            },
        )
        assert response.status == 204, response.status
        offset = int(response.getheader("Upload-Offset") or 0)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--patch-mib", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    size = args.size_mib * MIB
    # An MP4 file header, then random bytes (incompressible, like real video).
    block = b"\x00\x00\x00\x18ftypmp42" + os.urandom(args.patch_mib * MIB - 12)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings(
            env=Environment.TEST,
            data_dir=root / "data",
            database_url=f"sqlite:///{root / 'bench.db'}",
        )
        upgrade(settings.effective_database_url)
        token = seed_patient(settings).token
        port = 20000 + uuid.uuid4().int % 20000
        server = start_server(settings, port)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            case_id = new_case(conn, token)
            upload(conn, token, case_id, 16 * MIB, block)  # warm-up
            chunk = crypto.DEFAULT_CHUNK_SIZE
            baseline(root, 16, chunk)
            rounds, growth = [], []
            for number in range(1, args.rounds + 1):
                warm_memory(4 * size)
                base_rate = args.size_mib / baseline(root, args.size_mib, chunk)
                warm_memory(4 * size)
                watcher = RssWatcher(server.pid)
                upload_rate = args.size_mib / upload(conn, token, case_id, size, block)
                growth.append(watcher.stop())
                rounds.append(upload_rate / base_rate)
                print(
                    f"round {number}: baseline {base_rate:7.1f} MiB/s   upload {upload_rate:7.1f}"
                    f" MiB/s   ratio {upload_rate / base_rate:.3f}",
                    flush=True,
                )
            conn.close()
        finally:
            server.terminate()
            server.wait(timeout=30)

    print(f"size: {args.size_mib} MiB, PATCH size: {args.patch_mib} MiB, rounds: {args.rounds}")
    print(f"median ratio upload / baseline (target >= 0.5): {statistics.median(rounds):.3f}")
    print(f"server RSS growth, worst round (target < 64 MiB): {max(growth):.1f} MiB")


if __name__ == "__main__":
    main()
