"""Three instances behind HAProxy vs one instance behind the same HAProxy, same run.

Needs the local cluster (``scripts/cluster up``). Load: wrk in its own process, authenticated
reads of a patient (``GET /v1/patients/{id}``) and modality decisions (``POST /v1/decisions``)
alternately on each connection, through HAProxy's TLS frontend to the three instances
(https://127.0.0.1:18443) and to instance a alone (https://127.0.0.1:18444). The two loads
alternate for ``--rounds`` rounds. Target on a 2-core machine, where the three instances share
the cores the one instance has: three >= 0.8x one's requests/s, p95 within 1.5x (the cost of
the cluster machinery per instance, not a speed-up).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

from harness import ROOT, seed_patient, wrk_output

sys.path.insert(0, str(ROOT))  # the cluster's topology lives beside its tests

from tests.cluster import topology
from tests.cluster.load import FACTS

from telehealth.config import load_settings

LUA = """
local n = 0
local read = "/v1/patients/%(patient)s"
local body = %(body)s
local post = {}
for name, value in pairs(wrk.headers) do post[name] = value end
post["Content-Type"] = "application/json"
request = function()
  n = n + 1
  if %(reads)s or (%(mixed)s and n %% 2 == 0) then
    return wrk.format("GET", read)
  end
  return wrk.format("POST", "/v1/decisions", post, body)
end
done = function(summary, latency, requests)
  io.write(string.format("p95_us %%d\\n", latency:percentile(95)))
end
"""


def _script(workdir: Path, patient: str, mix: str) -> Path:
    script = workdir / f"{mix}.lua"
    script.write_text(
        LUA
        % {
            "patient": patient,
            "body": json.dumps(json.dumps(FACTS)),
            "reads": str(mix == "reads").lower(),
            "mixed": str(mix == "both").lower(),
        }
    )
    return script


def _run(url: str, seconds: int, connections: int, token: str, script: Path) -> tuple[float, float]:
    """Requests/s and p95 latency (ms) of one wrk run."""
    output = wrk_output(
        url + "/",
        seconds=seconds,
        connections=connections,
        headers={"Authorization": f"Bearer {token}"},
        script=script,
    )
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p95 = re.search(r"p95_us (\d+)", output)
    if rate is None or p95 is None:
        raise RuntimeError(output)
    errors = re.search(r"Socket errors: (.*)", output)
    if errors:
        print(f"  socket errors: {errors.group(1)}")
    return float(rate.group(1)), int(p95.group(1)) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--mix",
        choices=["both", "reads", "decisions"],
        default="both",
        help="reads and decisions alternately (default), or one kind only",
    )
    args = parser.parse_args()
    down = [part for part, (ok, _) in topology.health().items() if not ok]
    if down:
        raise SystemExit(f"the cluster is not up ({', '.join(down)}): scripts/cluster up")
    os.environ.update(topology.read_env())
    seeded = seed_patient(load_settings(), email=f"bench-{uuid.uuid4().hex[:8]}@example.test")
    rows: list[tuple[float, float, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        script = _script(Path(tmp), str(seeded.patient_id), args.mix)
        # Warm both paths (connections, caches) before measuring.
        for url in (topology.PUBLIC_URL, topology.ONE_URL):
            _run(url, 2, args.connections, seeded.token, script)
        for number in range(1, args.rounds + 1):
            one, one_p95 = _run(
                topology.ONE_URL, args.seconds, args.connections, seeded.token, script
            )
            three, three_p95 = _run(
                topology.PUBLIC_URL, args.seconds, args.connections, seeded.token, script
            )
            rows.append((one, one_p95, three, three_p95))
            print(
                f"round {number}: one {one:7.0f} req/s p95 {one_p95:6.1f} ms   "
                f"three {three:7.0f} req/s p95 {three_p95:6.1f} ms   ratio {three / one:.3f}"
            )
    ratio = statistics.median(three / one for one, _, three, _ in rows)
    p95_ratio = statistics.median(t95 / o95 for _, o95, _, t95 in rows)
    print(f"load: {args.mix}, {args.connections} connections, {args.seconds}s per run")
    print(f"median throughput ratio three/one: {ratio:.3f} (target >= 0.8)")
    print(f"median p95 ratio three/one: {p95_ratio:.3f} (target <= 1.5)")


if __name__ == "__main__":
    main()
