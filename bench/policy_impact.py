"""The cliff report's per-appointment cost against the in-process decision rate.

Run: .venv/bin/python bench/policy_impact.py [--appointments N]

Measures ``decide`` calls per second on the repository rule set (the baseline of
bench/decide_inprocess.py, in this same run), then re-decides N stored appointments (default
100,000) the way the cliff report does: each appointment's facts decided on the first date and
on the later one, and the two decisions compared. Prints the time per appointment against the
time per in-process decision; the target is a ratio within 2x per decision (the report makes
two decisions per appointment, so within 4x per appointment).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, date, datetime

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))

from decide_inprocess import calls_per_second, random_facts
from telehealth.policy.engine import decide
from telehealth.policy.facts import parse_facts
from telehealth.policy.impact import compare
from telehealth.policy.loader import load_ruleset

EVALUATED_AT = datetime(2026, 11, 27, tzinfo=UTC)
FIRST, LATER = date(2026, 12, 1), date(2028, 1, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--appointments", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261127)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    ruleset = load_ruleset()
    stored = [random_facts(rng) for _ in range(args.appointments)]
    for facts in stored:
        facts["patient"]["last_in_person_visit"] = None
    calls_per_second(ruleset, stored[:500])  # warm-up, not counted
    rate = calls_per_second(ruleset, stored[: min(len(stored), 20_000)])
    started = time.perf_counter()
    changes = 0
    for facts in stored:
        before = decide(
            parse_facts({**facts, "date_of_service": FIRST.isoformat()}),
            ruleset,
            evaluated_at=EVALUATED_AT,
            decision_id="impact",
        )
        after = decide(
            parse_facts({**facts, "date_of_service": LATER.isoformat()}),
            ruleset,
            evaluated_at=EVALUATED_AT,
            decision_id="impact",
        )
        changes += len(compare(before, after, LATER))
    elapsed = time.perf_counter() - started
    per_decision = elapsed / (2 * len(stored))
    baseline = 1 / rate
    ratio = per_decision / baseline
    print(f"in-process decide: {rate:,.0f}/s ({baseline * 1e6:.1f} us per decision)")
    print(
        f"impact: {len(stored):,} appointments in {elapsed:.1f}s, {changes:,} changes, "
        f"{per_decision * 1e6:.1f} us per decision"
    )
    print(f"ratio (impact per decision / in-process decision): {ratio:.2f} (target <= 2.00)")
    return 0 if ratio <= 2.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
