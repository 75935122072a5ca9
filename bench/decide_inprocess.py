"""In-process throughput of ``decide`` and the cost of re-deciding after a rule change.

Run: .venv/bin/python bench/decide_inprocess.py [--appointments N]

Prints decide calls per second on the repository rule set (A), then simulates a rule change
(rule set B: the DEA telemedicine flexibilities extended by a year) and times re-deciding N
stored appointments (default 100,000) under B.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from telehealth.policy.engine import decide
from telehealth.policy.loader import PACK_DIRS, RuleSet, default_policies_dir, load_ruleset
from telehealth.vocabulary import US_STATES

STATES = sorted(US_STATES)
SPECIALTIES = ["dermatology", "radiology", "psychiatry", "primary_care", "psychology", "cardiology"]
PURPOSES = [
    "new_problem",
    "follow_up",
    "interpretation",
    "monitoring",
    "mental_health",
    "substance_use_disorder",
    "acute_stroke",
]
EVALUATED_AT = datetime(2026, 11, 27, tzinfo=UTC)


def random_facts(rng: random.Random) -> dict[str, Any]:
    state = rng.choice(STATES)
    service = date(2026, 1, 1) + timedelta(days=rng.randrange(3 * 365))
    licensed = state if rng.random() < 0.85 else rng.choice(STATES)
    last = None if rng.random() < 0.3 else service - timedelta(days=rng.randrange(700))
    controlled = None
    if rng.random() < 0.25:
        controlled = {
            "schedule": rng.choice(["II", "III", "IV", "V"]),
            "opioid_use_disorder_treatment": rng.random() < 0.3,
            "prior_in_person_evaluation": rng.random() < 0.5,
        }
    return {
        "date_of_service": service.isoformat(),
        "patient": {
            "location_state": state,
            "setting": rng.choice(["home", "facility"]),
            "payer": rng.choice(["medicare", "medicaid", "commercial", "self_pay"]),
            "established": rng.random() < 0.7,
            "last_in_person_visit": last.isoformat() if last else None,
            "video_capable": rng.random() < 0.85,
            "consents_to_video": rng.random() < 0.9,
            "bandwidth": {
                "down_mbps": round(rng.uniform(0.2, 300), 1),
                "up_mbps": round(rng.uniform(0.1, 40), 1),
                "rtt_ms": round(rng.uniform(10, 700)),
                "loss_pct": round(rng.uniform(0, 8), 1),
            },
            "alaska_hawaii_demo": state in ("AK", "HI") and rng.random() < 0.5,
        },
        "clinician": {
            "licenses": [
                {
                    "state": licensed,
                    "kind": rng.choice(["full", "compact", "telehealth_registration"]),
                }
            ],
            "dea_registrations": [{"state": licensed, "schedules": ["II", "III", "IV", "V"]}],
            "specialty": rng.choice(SPECIALTIES),
            "video_capable": rng.random() < 0.95,
        },
        "encounter": {
            "specialty": rng.choice(SPECIALTIES),
            "acuity": rng.choice(["emergent", "urgent", "routine", "stable", "stable", "routine"]),
            "purpose": rng.choice(PURPOSES),
            "controlled_substance": controlled,
        },
    }


def changed_ruleset(workdir: Path) -> RuleSet:
    """Rule set B: a copy of the packs with the DEA flexibilities extended to 2027-12-31."""
    source = default_policies_dir()
    root = workdir / "policies"
    for sub in PACK_DIRS:
        shutil.copytree(source / sub, root / sub)
    shutil.copy(source / "cases.defaults.yaml", root / "cases.defaults.yaml")
    path = root / "federal" / "dea.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for rule in data["rules"]:
        if rule["id"].startswith("dea.flexibilities."):
            rule["effective_to"] = date(2027, 12, 31)
        if rule["id"].startswith("dea.law_as_written."):
            rule["effective_from"] = date(2028, 1, 1)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_ruleset(root)


def calls_per_second(ruleset: RuleSet, facts: list[dict[str, Any]]) -> float:
    start = time.perf_counter()
    for item in facts:
        decide(item, ruleset, evaluated_at=EVALUATED_AT)
    return len(facts) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--appointments", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261127)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    started = time.perf_counter()
    ruleset_a = load_ruleset()
    print(
        f"rule set A loaded in {time.perf_counter() - started:.3f} s ({len(ruleset_a.rules)} rules)"
    )
    stored = [random_facts(rng) for _ in range(args.appointments)]

    warmup = stored[: min(2_000, len(stored))]
    calls_per_second(ruleset_a, warmup)
    sample = stored[: min(20_000, len(stored))]
    rate = calls_per_second(ruleset_a, sample)
    print(f"in-process decide: {rate:,.0f} calls/s ({len(sample):,} calls, rule set A)")

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        ruleset_b = changed_ruleset(Path(tmp))
        load_b = time.perf_counter() - started
    print(f"rule set B loaded in {load_b:.3f} s (revision {ruleset_b.revision[:12]})")

    started = time.perf_counter()
    for item in stored:
        decide(item, ruleset_b, evaluated_at=EVALUATED_AT)
    elapsed = time.perf_counter() - started
    print(
        f"re-decide {len(stored):,} stored appointments with rule set B: {elapsed:.2f} s "
        f"({len(stored) / elapsed:,.0f} decisions/s)"
    )
    sample = stored[:10_000]
    changed = sum(
        decide(item, ruleset_a, evaluated_at=EVALUATED_AT).prescribing
        != decide(item, ruleset_b, evaluated_at=EVALUATED_AT).prescribing
        for item in sample
    )
    print(f"  of the first {len(sample):,}, {changed:,} changed their prescribing outcome under B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
