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


def test_each_instance_serves_metrics_to_the_scraper_only() -> None:
    token = topology.read_env()["TELEHEALTH_METRICS_TOKEN"]
    for name in topology.INSTANCES:
        url = f"{topology.instance_url(name)}/metrics"
        assert httpx.get(url, timeout=10).status_code == 401
        scraped = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert scraped.status_code == 200
        assert "telehealth_http_requests_total" in scraped.text
        assert "telehealth_job_runs" in scraped.text
    # Not at the public address, token or not.
    public = httpx.get(
        f"{topology.PUBLIC_URL}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert public.status_code == 403
