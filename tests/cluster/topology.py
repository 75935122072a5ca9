"""The local production topology: ``scripts/cluster up|down|status|test|backup|restore-check``.

PostgreSQL and Redis are the machine's (a dedicated database and Redis database number); an
S3-compatible server (moto's server mode), coturn with the TURN REST API secret, HAProxy
terminating TLS in front of three ``telehealth serve`` instances. Every part runs as a background
process with a pid file and a log under the state directory (``.cluster/``, gitignored), which
also holds the generated secrets (``.cluster/env``), the TLS certificate and the shared data
directory. ``up`` starts from nothing every time: moto keeps its objects in memory, so the
database and the Redis database are emptied with it and the two stay consistent.

The cluster tests (tests/cluster/) import this module for the ports and to kill and start
instances; docs/deploy.md describes the production equivalent of each part.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.error import URLError
from urllib.request import Request, urlopen

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("TELEHEALTH_CLUSTER_DIR", ROOT / ".cluster")).resolve()
VENV_BIN = ROOT / ".venv" / "bin"
BASE = int(os.environ.get("TELEHEALTH_CLUSTER_PORT_BASE", "18400"))

PG_SERVER = os.environ.get("TELEHEALTH_CLUSTER_PG", "postgresql://postgres@127.0.0.1:5432")
DATABASE = "telehealth_cluster"
RESTORED_DATABASE = "telehealth_cluster_restored"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DB = int(os.environ.get("TELEHEALTH_CLUSTER_REDIS_DB", "11"))
BUCKET = "telehealth-cluster"
RESTORED_BUCKET = "telehealth-cluster-restored"

INSTANCES = {"a": BASE + 1, "b": BASE + 2, "c": BASE + 3}
HTTPS_PORT = BASE + 43  # HAProxy: the three instances
ONE_PORT = BASE + 44  # HAProxy: instance a alone (the same-run baseline of the load bench)
STATS_PORT = BASE + 49  # HAProxy's stats page (plain HTTP, loopback)
S3_PORT = BASE + 50
TURN_PORT = BASE + 78
TURN_RELAY_PORTS = (BASE + 100, BASE + 140)

PUBLIC_URL = f"https://127.0.0.1:{HTTPS_PORT}"
ONE_URL = f"https://127.0.0.1:{ONE_PORT}"
# Test topology only: a request carrying this header (or cookie) with an instance's name goes
# to that instance while it is up, and anywhere else when it is down. The cluster tests pin a
# browser or a client to an instance with it; a production configuration leaves it out.
PIN_HEADER = "X-Cluster-Pin"
PIN_COOKIE = "cluster_pin"

PORTS = (*INSTANCES.values(), HTTPS_PORT, ONE_PORT, STATS_PORT, S3_PORT, TURN_PORT)
PARTS = ("s3", "turn", *(f"instance-{name}" for name in INSTANCES), "haproxy")


def instance_url(name: str) -> str:
    return f"http://127.0.0.1:{INSTANCES[name]}"


def pid_file(part: str) -> Path:
    return STATE / "run" / f"{part}.pid"


def log_file(part: str) -> Path:
    return STATE / "logs" / f"{part}.log"


# --- environment -------------------------------------------------------------------------


def database_url(name: str = DATABASE) -> str:
    return f"postgresql+psycopg://{PG_SERVER.split('://', 1)[1]}/{name}"


def _key_list(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode('ascii')}"


def generate_env() -> dict[str, str]:
    """Production settings with fresh secrets (written to ``.cluster/env``, mode 0600)."""
    turn = f"127.0.0.1:{TURN_PORT}"
    return {
        "TELEHEALTH_ENV": "production",
        "TELEHEALTH_DATA_DIR": str(STATE / "data"),
        "TELEHEALTH_DATABASE_URL": database_url(),
        "TELEHEALTH_REDIS_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
        "TELEHEALTH_SECRET_KEY": secrets.token_urlsafe(48),
        "TELEHEALTH_STORAGE_KEKS": _key_list("k1"),
        "TELEHEALTH_AUDIT_KEYS": _key_list("a1"),
        "TELEHEALTH_BLOB_BACKEND": "s3",
        "TELEHEALTH_S3_BUCKET": BUCKET,
        "TELEHEALTH_S3_ENDPOINT_URL": f"http://127.0.0.1:{S3_PORT}",
        "TELEHEALTH_S3_REGION": "us-east-1",
        # boto3's own variables, as on AWS (moto accepts any credentials).
        "AWS_ACCESS_KEY_ID": "cluster",
        "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
        "TELEHEALTH_PUBLIC_URL": PUBLIC_URL,
        # HAProxy's X-Forwarded-For gives the client address (sign-in throttling per client).
        "TELEHEALTH_TRUSTED_PROXIES": "127.0.0.1",
        "TELEHEALTH_TURN_SECRET": secrets.token_hex(32),
        # Prometheus scrapes each instance's /metrics with it (HAProxy refuses /metrics).
        "TELEHEALTH_METRICS_TOKEN": secrets.token_urlsafe(32),
        "TELEHEALTH_TURN_URLS": json.dumps([f"turn:{turn}?transport=udp", f"turn:{turn}"]),
        "TELEHEALTH_ICE_SERVERS": json.dumps([{"urls": [f"stun:{turn}"]}]),
        # One process per instance on a 2-core machine; four threads for synchronous endpoints
        # (and four pooled database connections) each.
        "TELEHEALTH_WORKER_THREADS": "4",
        # A clinic's choice; the cluster tests book the next free half hour and go in at once.
        "TELEHEALTH_WAITING_ROOM_LEAD_MINUTES": "60",
        # Checkpoints every 10 s (production: 60): the jobs test sees several ticks a minute.
        "TELEHEALTH_AUDIT_CHECKPOINT_SECONDS": "10",
        # On SIGTERM, /readyz answers 503 this long before the server stops accepting: longer
        # than HAProxy needs to take it out of rotation (2 failed checks 1 s apart).
        "TELEHEALTH_SHUTDOWN_DRAIN_SECONDS": "4",
        "TELEHEALTH_SHUTDOWN_GRACE_SECONDS": "20",
    }


def read_env() -> dict[str, str]:
    path = STATE / "env"
    if not path.is_file():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: shlex.split(value)[0] for key, value in pairs if not key.startswith("#")}


def _write_env(values: dict[str, str]) -> None:
    path = STATE / "env"
    path.write_text(
        "# Generated by scripts/cluster up: production settings and secrets of the local cluster\n"
        "# (a shell can read it: set -a; . .cluster/env; set +a).\n"
        + "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())
    )
    path.chmod(0o600)


def process_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEHEALTH_")}
    env.update(read_env())
    env.update(extra or {})
    return env


# --- processes ---------------------------------------------------------------------------


def read_pid(part: str) -> int | None:
    try:
        pid = int(pid_file(part).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    # A zombie (killed, not yet reaped by whoever started it) is not running.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return None if stat.rsplit(")", 1)[1].split()[0] == "Z" else pid


def _spawn(part: str, argv: list[str], env: dict[str, str] | None = None) -> int:
    """Start ``argv`` in the background, detached from this process (a shell starts it and
    exits, so it is nobody's child here and outlives a test run that restarted it)."""
    launcher = subprocess.run(
        ["sh", "-c", '"$@" >>"$CLUSTER_LOG" 2>&1 </dev/null & echo $!', "sh", *argv],
        cwd=ROOT,
        env={**(env or process_env()), "CLUSTER_LOG": str(log_file(part))},
        capture_output=True,
        text=True,
        check=True,
        start_new_session=True,
    )
    pid = int(launcher.stdout.strip())
    pid_file(part).write_text(f"{pid}\n")
    return pid


def stop(part: str, sig: signal.Signals = signal.SIGTERM, wait: float = 15.0) -> None:
    """Send ``sig`` to a part and wait until it is gone (SIGKILL after ``wait`` seconds)."""
    pid = read_pid(part)
    if pid is None:
        pid_file(part).unlink(missing_ok=True)
        return
    with _suppress_gone():
        os.kill(pid, sig)
    deadline = time.monotonic() + wait
    while read_pid(part) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    if read_pid(part) is not None:
        with _suppress_gone():
            os.kill(pid, signal.SIGKILL)
        while read_pid(part) is not None:
            time.sleep(0.05)
    pid_file(part).unlink(missing_ok=True)


class _suppress_gone:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: object, tb: object) -> bool:
        return kind is ProcessLookupError


def kill_instance(name: str) -> None:
    """``kill -9`` an instance: no drain, no goodbye."""
    stop(f"instance-{name}", signal.SIGKILL, wait=0)


def start_instance(name: str, wait: float = 60.0) -> None:
    part, port = f"instance-{name}", INSTANCES[name]
    if read_pid(part) is not None:
        return
    # Every instance runs the job loop: the job_runs leases run each tick once among them.
    serve = [str(VENV_BIN / "telehealth"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    _spawn(part, serve)
    _wait_for(lambda: _http_ok(f"{instance_url(name)}/readyz"), wait, f"instance {name}")


def _wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise SystemExit(f"{what} did not become healthy in {seconds:.0f}s (see {STATE / 'logs'})")


# --- health ------------------------------------------------------------------------------

CERTIFICATE = STATE / "tls" / "cert.pem"


def _tls() -> ssl.SSLContext:
    """Trusts the cluster's own self-signed certificate (made by ``up``)."""
    if CERTIFICATE.exists():
        return ssl.create_default_context(cafile=str(CERTIFICATE))
    return ssl.create_default_context()


def _http_ok(url: str, timeout: float = 2.0, bearer: str | None = None) -> bool:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    request = Request(url, headers=headers)  # noqa: S310 - our own http(s) URLs
    try:
        with urlopen(request, timeout=timeout, context=_tls()) as response:  # noqa: S310
            return 200 <= int(response.status) < 300
    except (URLError, OSError, ValueError):
        return False


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _redis(*commands: str) -> bytes:
    """Send inline commands to the machine's Redis on the cluster's database; the replies."""
    with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=2.0) as conn:
        conn.sendall("".join(f"{c}\r\n" for c in (f"SELECT {REDIS_DB}", *commands)).encode())
        replies = b""
        while replies.count(b"\r\n") < len(commands) + 1:
            chunk = conn.recv(256)
            if not chunk:
                break
            replies += chunk
        return replies


def _redis_ok() -> bool:
    try:
        return b"+PONG" in _redis("PING")
    except OSError:
        return False


def _psql(sql: str, database: str = "postgres") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["psql", f"{PG_SERVER}/{database}", "-v", "ON_ERROR_STOP=1", "-Atq", "-c", sql],
        capture_output=True,
        text=True,
        check=False,
    )


def _postgres_ok() -> bool:
    return _psql("SELECT 1", DATABASE).returncode == 0


def health() -> dict[str, tuple[bool, str]]:
    """Every part: healthy or not, and what was checked."""
    parts: dict[str, tuple[bool, str]] = {
        "postgresql": (_postgres_ok(), f"{PG_SERVER}/{DATABASE} SELECT 1"),
        "redis": (_redis_ok(), f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB} PING"),
        "s3": (
            read_pid("s3") is not None and _http_ok(f"http://127.0.0.1:{S3_PORT}/{BUCKET}"),
            f"moto_server :{S3_PORT}, bucket {BUCKET}",
        ),
        "turn": (read_pid("turn") is not None and _port_open(TURN_PORT), f"coturn :{TURN_PORT}"),
    }
    token = read_env().get("TELEHEALTH_METRICS_TOKEN", "")
    for name, port in INSTANCES.items():
        alive = read_pid(f"instance-{name}") is not None
        parts[f"instance-{name}"] = (
            alive
            and _http_ok(f"{instance_url(name)}/readyz")
            and _http_ok(f"{instance_url(name)}/metrics", bearer=token),
            f"telehealth serve :{port} /readyz, /metrics",
        )
    parts["haproxy"] = (
        read_pid("haproxy") is not None and _http_ok(f"{PUBLIC_URL}/readyz"),
        f"{PUBLIC_URL}/readyz (TLS), one-instance {ONE_URL}, stats :{STATS_PORT}",
    )
    return parts


def in_rotation(backend: str = "instances") -> set[str]:
    """The instances HAProxy sends requests to now (its stats page, as CSV)."""
    url = f"http://127.0.0.1:{STATS_PORT}/stats;csv"
    try:
        with urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except (URLError, OSError):
        return set()
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    return {
        row["svname"]
        for row in rows
        if row["pxname"] == backend
        and row["status"] == "UP"
        and row["svname"] not in ("FRONTEND", "BACKEND")
    }


def wait_in_rotation(seconds: float = 30.0) -> None:
    """Until HAProxy sends requests to every instance again (two good checks after a start)."""
    _wait_for(lambda: in_rotation() == set(INSTANCES), seconds, "HAProxy's rotation")


def is_up() -> bool:
    return all(ok for ok, _ in health().values())


# --- configuration files -----------------------------------------------------------------


def haproxy_config() -> str:
    servers = "\n".join(
        f"    server {name} 127.0.0.1:{port} check inter 1s fall 2 rise 2"
        for name, port in INSTANCES.items()
    )
    pins = "\n".join(
        f"    use-server {name} if {{ req.hdr({PIN_HEADER}) -m str {name} }} || "
        f"{{ req.cook({PIN_COOKIE}) -m str {name} }}"
        for name in INSTANCES
    )
    return f"""# Generated by scripts/cluster up (tests/cluster/topology.py); see docs/deploy.md.
global
    log stdout format raw local0 warning
    maxconn 4096
    ssl-default-bind-options ssl-min-ver TLSv1.2

defaults
    mode http
    log global
    option httplog
    option forwardfor
    option redispatch
    retries 3
    # A connection refused or closed before any answer (an instance killed or shutting down)
    # is retried on another instance; nothing that got an answer is ever replayed.
    retry-on conn-failure empty-response
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout http-keep-alive 60s
    # Signaling WebSockets stay open for a whole visit: once upgraded, only this applies.
    timeout tunnel 2h
    timeout client-fin 5s

frontend stats
    bind 127.0.0.1:{STATS_PORT}
    http-request return status 200 content-type text/plain string ok if {{ path /healthz }}
    stats enable
    stats uri /stats

frontend three
    bind 127.0.0.1:{HTTPS_PORT} ssl crt {STATE / "tls" / "haproxy.pem"}
    http-request set-header X-Forwarded-Proto https
    # Prometheus scrapes each instance directly; the public address does not serve it.
    http-request deny deny_status 403 if {{ path_beg /metrics }}
    default_backend instances

frontend one
    bind 127.0.0.1:{ONE_PORT} ssl crt {STATE / "tls" / "haproxy.pem"}
    http-request set-header X-Forwarded-Proto https
    default_backend instance_a

backend instances
    # No stickiness: any request may land on any instance.
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    # Test topology only (see PIN_HEADER): pin a client to an instance while it is up.
{pins}
    http-response set-header X-Cluster-Server %s
{servers}

backend instance_a
    option httpchk GET /readyz
    http-check expect status 200
    server a 127.0.0.1:{INSTANCES["a"]} check inter 1s fall 2 rise 2
"""


def _certificate() -> None:
    tls = STATE / "tls"
    tls.mkdir(mode=0o700, exist_ok=True)
    pem = tls / "haproxy.pem"
    if pem.exists():
        return
    key, cert = tls / "key.pem", tls / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    pem.write_bytes(cert.read_bytes() + key.read_bytes())
    pem.chmod(0o600)


# --- up / down ---------------------------------------------------------------------------


def _reset_database() -> None:
    drop = _psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    if drop.returncode != 0:
        raise SystemExit(f"PostgreSQL at {PG_SERVER}: {drop.stderr.strip()}")
    _psql(f"CREATE DATABASE {DATABASE}")


def _flush_redis() -> None:
    _redis("FLUSHDB")


def s3_client(endpoint: str | None = None) -> object:
    import boto3

    env = read_env()
    return boto3.client(
        "s3",
        endpoint_url=endpoint or env["TELEHEALTH_S3_ENDPOINT_URL"],
        region_name=env["TELEHEALTH_S3_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def up() -> None:
    if any(read_pid(part) is not None for part in PARTS):
        down()
    busy = [port for port in PORTS if _port_open(port)]
    if busy:
        raise SystemExit(
            f"ports {busy} are taken (another cluster? TELEHEALTH_CLUSTER_PORT_BASE moves them)"
        )
    for sub in ("run", "logs"):
        (STATE / sub).mkdir(parents=True, exist_ok=True)
    shutil.rmtree(STATE / "data", ignore_errors=True)
    (STATE / "data").mkdir()
    _write_env(generate_env())
    if not _redis_ok():
        raise SystemExit(f"Redis is not answering at {REDIS_HOST}:{REDIS_PORT}")
    _reset_database()
    _flush_redis()
    run_cli("db", "upgrade")

    _spawn("s3", [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(S3_PORT)])
    _wait_for(lambda: _port_open(S3_PORT), 30, "moto_server")
    s3_client().create_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]

    env = read_env()
    low, high = TURN_RELAY_PORTS
    _spawn(
        "turn",
        [
            "turnserver",
            "-n",
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            f"--listening-port={TURN_PORT}",
            f"--min-port={low}",
            f"--max-port={high}",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--realm=telehealth.cluster",
            # Test only: every peer here is on loopback. Never in production.
            "--allow-loopback-peers",
            "--log-file=stdout",
            "--simple-log",
            # The shared secret from a file, not the command line (process listings show that).
            "-c",
            str(_turn_config(env["TELEHEALTH_TURN_SECRET"])),
        ],
    )
    _wait_for(lambda: _port_open(TURN_PORT), 30, "coturn")

    for name in INSTANCES:
        start_instance(name)

    _certificate()
    (STATE / "haproxy.cfg").write_text(haproxy_config())
    check = subprocess.run(
        ["haproxy", "-c", "-q", "-f", str(STATE / "haproxy.cfg")],
        capture_output=True,
        text=True,
        check=False,
    )
    if check.returncode != 0:
        raise SystemExit(f"haproxy.cfg is invalid: {check.stderr or check.stdout}")
    _spawn("haproxy", ["haproxy", "-db", "-f", str(STATE / "haproxy.cfg")])
    _wait_for(lambda: _http_ok(f"{PUBLIC_URL}/readyz"), 30, "haproxy")


def _turn_config(secret: str) -> Path:
    """coturn's TURN REST API mode: credentials are HMACs of this secret (docs/visits.md)."""
    path = STATE / "turnserver.conf"
    path.write_text(f"use-auth-secret\nstatic-auth-secret={secret}\n")
    path.chmod(0o600)
    return path


def down() -> None:
    for part in reversed(PARTS):
        stop(part)


def run_cli_status(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``telehealth ARGS`` on the cluster's settings (or ``env``), however it ends."""
    return subprocess.run(
        [str(VENV_BIN / "telehealth"), *args],
        cwd=ROOT,
        env=env or process_env(),
        capture_output=True,
        text=True,
        check=False,
    )


def run_cli(*args: str, env: dict[str, str] | None = None) -> str:
    """``telehealth ARGS``'s output; a failure stops with it."""
    done = run_cli_status(*args, env=env)
    if done.returncode != 0:
        raise SystemExit(f"telehealth {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def status() -> int:
    parts = health()
    for part, (ok, what) in parts.items():
        pid = read_pid(part) if part in PARTS else None
        _say(f"{'up  ' if ok else 'DOWN'}  {part:<12} {f'pid {pid}' if pid else '':<10} {what}")
    return 0 if all(ok for ok, _ in parts.values()) else 1


# --- backup and restore ------------------------------------------------------------------


@dataclass(frozen=True)
class Backup:
    path: Path

    @property
    def database(self) -> Path:
        return self.path / "telehealth.dump"

    @property
    def blobs(self) -> Path:
        return self.path / "blobs"


def _objects(client: object, bucket: str) -> Iterator[dict[str, object]]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)  # type: ignore[attr-defined]
    for page in pages:
        yield from page.get("Contents", [])


def backup() -> Backup:
    """A PostgreSQL custom-format dump, then every object of the bucket, then the data
    directory's audit checkpoints (the anchor ``audit verify`` checks the chains against).
    Database first: a blob written after the dump is an orphan in the copy, never a row
    without its blob."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = Backup(STATE / "backups" / stamp)
    target.blobs.mkdir(parents=True)
    subprocess.run(
        ["pg_dump", "--format=custom", f"--file={target.database}", f"{PG_SERVER}/{DATABASE}"],
        check=True,
    )
    client = s3_client()
    for item in _objects(client, BUCKET):
        key = str(item["Key"])
        destination = target.blobs / key
        destination.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(BUCKET, key, str(destination))  # type: ignore[attr-defined]
    checkpoints = STATE / "data" / "audit-checkpoints.json"
    if checkpoints.exists():
        shutil.copy2(checkpoints, target.path / "audit-checkpoints.json")
    return target


def latest_backup() -> Backup:
    found = sorted((STATE / "backups").glob("*"))
    if not found:
        raise SystemExit("no backup yet: run scripts/cluster backup")
    return Backup(found[-1])


def restore(source: Backup) -> dict[str, str]:
    """Restores ``source`` into a database and a bucket of its own (never over the live
    ones) and returns the settings that point at them."""
    _psql(f"DROP DATABASE IF EXISTS {RESTORED_DATABASE} WITH (FORCE)")
    _psql(f"CREATE DATABASE {RESTORED_DATABASE}")
    subprocess.run(
        [
            "pg_restore",
            "--no-owner",
            "--exit-on-error",
            f"--dbname={PG_SERVER}/{RESTORED_DATABASE}",
            str(source.database),
        ],
        check=True,
    )
    client = s3_client()
    existing = [str(b["Name"]) for b in client.list_buckets()["Buckets"]]  # type: ignore[attr-defined]
    if RESTORED_BUCKET in existing:
        for item in list(_objects(client, RESTORED_BUCKET)):
            client.delete_object(Bucket=RESTORED_BUCKET, Key=item["Key"])  # type: ignore[attr-defined]
    else:
        client.create_bucket(Bucket=RESTORED_BUCKET)  # type: ignore[attr-defined]
    for path in sorted(p for p in source.blobs.rglob("*") if p.is_file()):
        client.upload_file(str(path), RESTORED_BUCKET, path.relative_to(source.blobs).as_posix())  # type: ignore[attr-defined]
    data = STATE / "restored-data"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir()
    if (source.path / "audit-checkpoints.json").exists():
        shutil.copy2(source.path / "audit-checkpoints.json", data / "audit-checkpoints.json")
    return process_env(
        {
            "TELEHEALTH_DATABASE_URL": database_url(RESTORED_DATABASE),
            "TELEHEALTH_S3_BUCKET": RESTORED_BUCKET,
            "TELEHEALTH_DATA_DIR": str(data),
        }
    )


def restore_check(source: Backup | None = None) -> list[str]:
    """Restore the latest backup and verify it: the audit chains verify against the backed-up
    checkpoints, every blob the restored database names decrypts to its recorded SHA-256,
    and the restored bucket holds exactly the backed-up objects. Returns what was checked."""
    source = source or latest_backup()
    env = restore(source)
    checked = [run_cli("audit", "verify", env=env).strip().splitlines()[-1]]
    verify = subprocess.run(
        [str(VENV_BIN / "python"), "-m", "tests.cluster.restored", "--verify"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if verify.returncode != 0:
        raise SystemExit(f"restored blobs do not verify:\n{verify.stdout}{verify.stderr}")
    checked.append(verify.stdout.strip())
    files = (p for p in source.blobs.rglob("*") if p.is_file())
    backed_up = sorted(p.relative_to(source.blobs).as_posix() for p in files)
    restored = sorted(str(item["Key"]) for item in _objects(s3_client(), RESTORED_BUCKET))
    if backed_up != restored:
        raise SystemExit("the restored bucket differs from the backup")
    checked.append(f"{len(restored)} objects restored")
    return checked


# --- command line ------------------------------------------------------------------------

USAGE = """usage: scripts/cluster up|down|status|test [pytest args]|backup|restore-check

  up             start PostgreSQL database, Redis DB, moto S3, coturn, three instances, HAProxy
                 (from nothing: the database, Redis DB and bucket start empty)
  down           stop every part
  status         each part's health (exit 1 if any is down)
  test           up (from nothing), then the cluster tests (tests/cluster/) against it
  backup         pg_dump + every object of the bucket + audit checkpoints into .cluster/backups/
  restore-check  restore the latest backup beside the live data and verify it
"""


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "up":
        up()
        return status()
    if command == "down":
        down()
        return 0
    if command == "status":
        return status()
    if command == "backup":
        _say(str(backup().path))
        return 0
    if command == "restore-check":
        for line in restore_check():
            _say(line)
        return 0
    if command == "test":
        # From a fresh cluster every time: the tests seed their people into an empty database.
        up()
        if status() != 0:
            return 1
        env = dict(os.environ, TELEHEALTH_CLUSTER_TEST="1")
        paths = [] if any(a.startswith("tests/cluster") for a in argv[1:]) else ["tests/cluster"]
        pytest = [str(VENV_BIN / "pytest"), "-p", "no:cacheprovider", *paths, *argv[1:]]
        return subprocess.run(pytest, cwd=ROOT, env=env, check=False).returncode
    sys.stderr.write(USAGE)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
