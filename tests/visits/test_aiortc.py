"""A Python WebRTC client (aiortc) through the signaling path of a real server: the clinician
admits the patient, the two negotiate DTLS-SRTP peer to peer, and video frames arrive."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.visits.live import Live, live_server

aiortc = pytest.importorskip("aiortc")
pytestmark = pytest.mark.slow


@pytest.fixture
def live(sqlite_template: Path, tmp_path: Path) -> Any:
    with live_server(sqlite_template, tmp_path) as server:
        yield server


async def _next(ws: Any, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(20):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == kind:
                return message


def _pc() -> Any:
    from aiortc import RTCConfiguration, RTCPeerConnection
    from aiortc.mediastreams import VideoStreamTrack

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(VideoStreamTrack())
    return pc


async def _first_frame(pc: Any) -> Any:
    arrived: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    @pc.on("track")  # type: ignore[misc]
    def on_track(track: Any) -> None:
        if track.kind == "video" and not arrived.done():
            arrived.set_result(track)

    track = await asyncio.wait_for(arrived, 20)
    return await asyncio.wait_for(track.recv(), 20)


async def test_aiortc_peers_connect_through_the_signaling_socket(live: Live) -> None:
    visit_id, patient, clinician = live.book_now()
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        for path, body, token in (
            ("/v1/visit-session/location", {"state": "TX"}, patient),
            ("/v1/visit-session/consent", {"method": "written", "acknowledged": True}, patient),
            ("/v1/visit-session/waiting", None, patient),
            ("/v1/visit-session/waiting", None, clinician),
        ):
            response = await http.post(path, json=body, headers={"X-Visit-Token": token})
            assert response.status_code < 300, response.text
        me = (await http.get("/v1/visit-session", headers={"X-Visit-Token": patient})).json()[
            "participant_id"
        ]
        async with (
            websockets.connect(live.ws_url) as host_ws,
            websockets.connect(live.ws_url) as patient_ws,
        ):
            await host_ws.send(json.dumps({"type": "auth", "token": clinician}))
            await patient_ws.send(json.dumps({"type": "auth", "token": patient}))
            host_welcome = await _next(host_ws, "welcome")
            assert (await _next(patient_ws, "welcome"))["state"] == "waiting"
            admitted = await http.post(
                f"/v1/visit-session/participants/{me}/admit", headers={"X-Visit-Token": clinician}
            )
            assert admitted.status_code == 200
            await _next(patient_ws, "admitted")
            peer = await _next(host_ws, "peer-joined")
            assert peer["id"] == me

            host_pc, patient_pc = _pc(), _pc()
            host_frame = asyncio.ensure_future(_first_frame(host_pc))
            patient_frame = asyncio.ensure_future(_first_frame(patient_pc))
            await host_pc.setLocalDescription(await host_pc.createOffer())
            offer_sdp = host_pc.localDescription.sdp
            assert "a=fingerprint:" in offer_sdp
            assert "UDP/TLS/RTP/SAVPF" in offer_sdp
            await host_ws.send(json.dumps({"type": "offer", "to": me, "sdp": offer_sdp}))

            offer = await _next(patient_ws, "offer")
            assert offer["from"] == host_welcome["id"]
            await patient_pc.setRemoteDescription(
                aiortc.RTCSessionDescription(sdp=offer["sdp"], type="offer")
            )
            await patient_pc.setLocalDescription(await patient_pc.createAnswer())
            await patient_ws.send(
                json.dumps(
                    {"type": "answer", "to": offer["from"], "sdp": patient_pc.localDescription.sdp}
                )
            )
            answer = await _next(host_ws, "answer")
            await host_pc.setRemoteDescription(
                aiortc.RTCSessionDescription(sdp=answer["sdp"], type="answer")
            )
            try:
                frames = await asyncio.gather(host_frame, patient_frame)
                assert all(frame.width > 0 for frame in frames)
                assert host_pc.connectionState == "connected"
            finally:
                await host_pc.close()
                await patient_pc.close()
    assert visit_id is not None
