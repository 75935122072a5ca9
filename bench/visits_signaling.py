"""Signaling relay throughput with 2,000 sockets (1,000 visits) connected, against a bare
Starlette WebSocket relay on the same server (uvicorn, one worker), measured in the same run.

Each visit is a pair of admitted participants playing ping-pong with ICE-candidate-sized
messages through the server; the figure is messages relayed per second over all pairs. The
load generator runs in its own process. Target: ratio >= 0.5.

    .venv/bin/python bench/visits_signaling.py [--pairs 1000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CANDIDATE = {
    "candidate": "candidate:842163049 1 udp 1677729535 192.0.2.10 50000 typ srflx "
    "raddr 0.0.0.0 rport 0 generation 0 ufrag abcd network-cost 999",
    "sdpMid": "0",
    "sdpMLineIndex": 0,
}


# --- servers ------------------------------------------------------------------------------


def bare_app() -> Any:
    """The baseline: join a room with the first message, then relay to the other member."""
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    rooms: dict[str, list[WebSocket]] = {}

    async def relay(ws: WebSocket) -> None:
        await ws.accept()
        room = json.loads(await ws.receive_text())["room"]
        members = rooms.setdefault(room, [])
        members.append(ws)
        await ws.send_text(json.dumps({"type": "welcome"}))
        try:
            while True:
                text = await ws.receive_text()
                for other in members:
                    if other is not ws:
                        await other.send_text(text)
        except WebSocketDisconnect:
            members.remove(ws)

    return Starlette(routes=[WebSocketRoute("/relay", relay)])


def serve(kind: str, port: int, database_url: str) -> None:
    import uvicorn

    if kind == "bare":
        app = bare_app()
    else:
        from telehealth.app import create_app
        from telehealth.config import Environment, Settings

        app = create_app(
            Settings(
                env=Environment.TEST,
                database_url=database_url,
                data_dir=Path(database_url.removeprefix("sqlite:///")).parent,
            )
        )
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws="websockets-sansio",
        workers=None,
        access_log=False,
    )


# --- seeding: 1,000 visits, each with an admitted patient and clinician ---------------------


def seed(database_url: str, pairs: int) -> list[tuple[str, str]]:
    from datetime import date

    from telehealth.bootstrap import bootstrap
    from telehealth.config import Environment, Settings
    from telehealth.db.engine import make_engine, make_sessionmaker
    from telehealth.db.migrate import upgrade
    from telehealth.identity import service as identity
    from telehealth.identity.model import LicenseKind, Role
    from telehealth.policy.service import decide_and_record
    from telehealth.scope import open_scope
    from telehealth.visits import model
    from telehealth.visits.booking import build_facts
    from telehealth.visits.tables import Participant, Visit

    upgrade(database_url)
    settings = Settings(env=Environment.TEST, database_url=database_url)
    engine = make_engine(database_url)
    scope = open_scope(make_sessionmaker(engine), bootstrap(settings), request_id="bench")
    org = identity.create_organization(scope, "Bench")
    clinician = identity.create_user(
        scope,
        org_id=org.id,
        email="c@bench.test",
        role=Role.CLINICIAN,
        display_name="c",
        password=None,
    ).user
    identity.add_license(
        scope, clinician.id, state="TX", kind=LicenseKind.FULL, number="1", expires_on=None
    )
    patient_user = identity.create_user(
        scope,
        org_id=org.id,
        email="p@bench.test",
        role=Role.PATIENT,
        display_name="p",
        password=None,
    ).user
    patient = identity.create_patient(
        scope,
        org_id=org.id,
        given_name="B",
        family_name="B",
        birth_date=date(1970, 1, 1),
        home_state="TX",
        user_id=patient_user.id,
    )
    identity.assign_care(scope, clinician.id, patient.id)
    scope.act_as(identity.system_actor_for(scope, clinician))
    now = datetime.now(UTC)
    intake = {
        "acuity": "routine",
        "purpose": "follow_up",
        "specialty": "primary_care",
        "payer": "commercial",
        "setting": "home",
        "established": True,
        "last_in_person_visit": None,
        "video_capable": True,
        "consents_to_video": True,
        "controlled_substance": None,
    }
    facts = build_facts(scope, intake, clinician_id=clinician.id, located_state="TX", on=now.date())
    _, record = decide_and_record(scope, facts, patient_id=patient.id)
    tokens: list[tuple[str, str]] = []
    for i in range(pairs):
        start = now + timedelta(minutes=30 * (i + 1))
        visit = Visit(
            id=uuid.uuid4(),
            org_id=org.id,
            patient_id=patient.id,
            clinician_id=clinician.id,
            booked_by=clinician.id,
            status="in_progress",
            slot_start=start,
            slot_end=start + timedelta(minutes=30),
            held_slot=start,
            intake=intake,
            located_state="TX",
            decision_id=record.id,
            current_decision_id=record.id,
            planned_modality="sync_audio_video",
            version=1,
            created_at=now,
            updated_at=now,
            started_at=now,
        )
        scope.session.add(visit)
        scope.session.flush()
        pair = []
        for role, user_id in (("patient", patient_user.id), ("clinician", clinician.id)):
            token, digest = model.new_join_token()
            scope.session.add(
                Participant(
                    id=uuid.uuid4(),
                    visit_id=visit.id,
                    role=role,
                    user_id=user_id,
                    display_name=role,
                    token_hash=digest,
                    state="admitted",
                    token_expires_at=now + timedelta(days=60),
                    video_active=False,
                    created_at=now,
                    admitted_at=now,
                )
            )
            pair.append(token)
        tokens.append((pair[0], pair[1]))
    scope.uow.commit()
    engine.dispose()
    return tokens


# --- load generator (its own process) -------------------------------------------------------


async def _open(url: str, hello: str) -> Any:
    import websockets

    ws = await websockets.connect(url, max_queue=None, ping_interval=None)
    await ws.send(hello)
    while json.loads(await ws.recv())["type"] != "welcome":
        pass
    return ws


async def _drain_until(ws: Any, kind: str) -> None:
    while True:
        message = json.loads(await ws.recv())
        if message.get("type") == kind:
            return


async def load(
    url: str, mode: str, tokens: list[tuple[str, str]], seconds: float
) -> dict[str, Any]:
    sockets: list[tuple[Any, Any]] = []
    started = time.perf_counter()
    for index, (a, b) in enumerate(tokens):
        if mode == "bare":
            hello_a = hello_b = json.dumps({"room": str(index)})
        else:
            hello_a = json.dumps({"type": "auth", "token": a})
            hello_b = json.dumps({"type": "auth", "token": b})
        sockets.append((await _open(url, hello_a), await _open(url, hello_b)))
    connect_seconds = time.perf_counter() - started
    if mode == "app":
        # Each side learns of the other (peer-joined) before the measurement starts.
        await asyncio.sleep(2.0)
    message = json.dumps({"type": "ice", "candidate": CANDIDATE})
    counts = [0] * len(sockets)
    stop_at = time.perf_counter() + seconds

    async def rally(i: int, a: Any, b: Any) -> None:
        while time.perf_counter() < stop_at:
            await a.send(message)
            await _drain_until(b, "ice")
            await b.send(message)
            await _drain_until(a, "ice")
            counts[i] += 2

    t0 = time.perf_counter()
    await asyncio.gather(*(rally(i, a, b) for i, (a, b) in enumerate(sockets)))
    elapsed = time.perf_counter() - t0
    for a, b in sockets:
        await a.close()
        await b.close()
    return {
        "messages": sum(counts),
        "seconds": elapsed,
        "rate": sum(counts) / elapsed,
        "sockets": 2 * len(sockets),
        "connect_seconds": connect_seconds,
    }


# --- orchestration --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def run(kind: str, database_url: str, tokens_file: Path, seconds: float) -> dict[str, Any]:
    port = _free_port()
    env = {
        **os.environ,
        "TELEHEALTH_SIGNAL_MESSAGES_PER_SECOND": "100000",
        "PYTHONPATH": str(ROOT / "src"),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            kind,
            "--port",
            str(port),
            "--database-url",
            database_url,
        ],
        env=env,
    )
    try:
        _wait_port(port)
        path = "/relay" if kind == "bare" else "/v1/visit-session/signal"
        result = subprocess.run(
            [
                sys.executable,
                __file__,
                "--load",
                kind,
                "--url",
                f"ws://127.0.0.1:{port}{path}",
                "--tokens",
                str(tokens_file),
                "--seconds",
                str(seconds),
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=seconds + 600,
        )
        figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
        return figures
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--serve")
    parser.add_argument("--load")
    parser.add_argument("--port", type=int)
    parser.add_argument("--url")
    parser.add_argument("--tokens")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.database_url)
        return
    if args.load:
        tokens = [tuple(p) for p in json.loads(Path(args.tokens).read_text())]
        print(json.dumps(asyncio.run(load(args.url, args.load, tokens, args.seconds))))  # type: ignore[arg-type]
        return
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        tokens = seed(database_url, args.pairs)
        tokens_file = Path(tmp) / "tokens.json"
        tokens_file.write_text(json.dumps(tokens))
        bare = run("bare", database_url, tokens_file, args.seconds)
        ours = run("app", database_url, tokens_file, args.seconds)
    ratio = ours["rate"] / bare["rate"]
    print(f"sockets connected: {ours['sockets']} ({args.pairs} visits), uvicorn, 1 worker")
    print(f"baseline (bare Starlette relay): {bare['rate']:.0f} messages/s")
    print(
        f"telehealth signaling relay:      {ours['rate']:.0f} messages/s "
        f"(connect + authenticate {ours['connect_seconds']:.1f} s)"
    )
    print(f"ratio: {ratio:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
