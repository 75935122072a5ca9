"""Rejoin after a reload against the first join, in Chromium on loopback, in the same browser
run.

First: the clinician's page clicks "Admit" for a waiting patient; the time runs until the
clinician's page renders the patient's first video frame (visits_first_frame.py's measure).
Rejoin: one side reloads its page mid-call (the patient, then the clinician, in turns); the
time runs from the reload until the reloaded page renders a frame of the other, and until
both pages do. Medians of several rounds. Target: rejoin / first <= 2.

    .venv/bin/python bench/visits_rejoin.py [--rounds 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.visits.live import Live  # noqa: E402

from visits_first_frame import admitted_call, server_and_browser, until  # noqa: E402

FRAME_AFTER = "(since) => window.__visit.trace.some((t) => t[0] === 'first-frame' && t[1] >= since)"
FIRST_FRAME_AFTER = (
    "(since) => Math.min(...window.__visit.trace"
    ".filter((t) => t[0] === 'first-frame' && t[1] >= since).map((t) => t[1]))"
)


def frame_after(page: Any, since_ms: float, seconds: float = 30.0) -> float:
    """Wall-clock milliseconds of the page's first remote frame rendered at or after since_ms."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(FRAME_AFTER, since_ms):
        if time.monotonic() > deadline:
            raise TimeoutError("no frame after the reload")
        time.sleep(0.005)
    return float(page.evaluate(FIRST_FRAME_AFTER, since_ms))


def visit_round(browser: Any, live: Live, reload_patient: bool) -> tuple[float, float, float]:
    patient, clinician, first = admitted_call(browser, live)
    until(patient, "window.__visit.firstFrameAt !== null")
    reloading, staying = (patient, clinician) if reload_patient else (clinician, patient)
    # Date.now() in the pages and time.time() here read the same system clock.
    started = time.time() * 1000
    reloading.reload()
    own = frame_after(reloading, started)
    both = max(own, frame_after(staying, started))
    patient.context.close()
    clinician.context.close()
    return first, own - started, both - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    with server_and_browser() as (live, browser):
        rounds = [visit_round(browser, live, i % 2 == 0) for i in range(args.rounds)]
    first_ms = statistics.median(r[0] for r in rounds)
    own_ms = statistics.median(r[1] for r in rounds)
    rejoin_ms = statistics.median(r[2] for r in rounds)
    print(f"rounds: {args.rounds} (reloading the patient and the clinician in turns), Chromium")
    print(f"first join (admit click to first decoded frame at the clinician): {first_ms:.0f} ms")
    print(f"rejoin (reload to the reloaded page's first decoded frame):      {own_ms:.0f} ms")
    print(f"rejoin (reload to a decoded frame again on both pages):          {rejoin_ms:.0f} ms")
    print(f"ratio rejoin / first: {own_ms / first_ms:.2f} (reloaded page), ", end="")
    print(f"{rejoin_ms / first_ms:.2f} (both pages) (target <= 2)")


if __name__ == "__main__":
    main()
