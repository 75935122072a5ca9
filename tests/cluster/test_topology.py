"""The topology itself: HAProxy terminates TLS in front of three healthy instances, balancing
without stickiness, and the instances run with production settings."""

from __future__ import annotations

from collections import Counter

import httpx

from tests.cluster import topology


def test_haproxy_balances_tls_requests_over_three_instances() -> None:
    with httpx.Client(base_url=topology.PUBLIC_URL, timeout=30) as client:
        answers = [client.get("/readyz") for _ in range(30)]
    assert all(answer.status_code == 200 for answer in answers)
    # No stickiness: one client's requests on one connection reach every instance.
    served = Counter(answer.headers["x-cluster-server"] for answer in answers)
    assert set(served) == set(topology.INSTANCES), served
    # The public address is HTTPS: browsers are told to stay on it.
    assert "max-age" in answers[0].headers["strict-transport-security"]


def test_the_instances_refuse_development_secrets() -> None:
    env = topology.read_env()
    assert env["TELEHEALTH_ENV"] == "production"
    assert env["TELEHEALTH_PUBLIC_URL"].startswith("https://")
    broken = topology.process_env({"TELEHEALTH_SECRET_KEY": "short"})
    done = topology.run_cli_status("audit", "verify", env=broken)
    assert done.returncode != 0
    assert "TELEHEALTH_SECRET_KEY" in done.stdout + done.stderr
