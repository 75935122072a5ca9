"""Claim audit throughput against parse-only throughput, and peak memory at two sizes.

Generates a claims CSV (a mix of clean and miscoded lines, with patient/period columns so
cross-line rules run), then in fresh subprocesses measures (a) parsing with the audit's own
reader and (b) the full audit with findings serialised as the CLI does (to /dev/null).
Each subprocess reports its own peak RSS; parse and audit runs alternate (best of --repeat).
Target: audit rate >= 0.3 x parse rate.

    .venv/bin/python bench/coding_audit.py [--lines N] [--small N]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = (
    "claim_id,date_of_service,payer,code,modifiers,pos,patient_state,modality,"
    "alaska_hawaii_demo,data_days,minutes,interactive_communication,patient_id\n"
)
# (code, modifiers, pos, modality, data_days, minutes, interactive): clean and miscoded.
TEMPLATES = [
    ("99214", "95", "10", "sync_audio_video", "", "", ""),
    ("99213", "93", "10", "sync_audio_only", "", "", ""),
    ("99215", "", "02", "sync_audio_video", "", "", ""),
    ("99454", "", "", "remote_monitoring", "20", "", ""),
    ("99457", "", "", "remote_monitoring", "", "25", "true"),
    ("99421", "", "", "async_store_and_forward", "", "8", ""),
    ("G2010", "", "", "async_store_and_forward", "", "", ""),
    ("98016", "", "", "sync_audio_only", "", "7", ""),
    ("99446", "", "", "econsult", "", "8", ""),
    ("98977", "", "", "remote_monitoring", "18", "", ""),
    # miscoded
    ("99213", "GQ", "02", "async_store_and_forward", "", "", ""),
    ("99214", "95", "10", "sync_audio_only", "", "", ""),
    ("99214", "93", "10", "sync_audio_video", "", "", ""),
    ("99454", "", "10", "remote_monitoring", "12", "", ""),
    ("99457", "", "", "remote_monitoring", "", "15", "false"),
    ("98006", "", "10", "sync_audio_video", "", "", ""),
    ("99442", "93", "10", "sync_audio_only", "", "", ""),
    ("99445", "", "", "remote_monitoring", "10", "", ""),
]


CLEAN, MISCODED = TEMPLATES[:10], TEMPLATES[10:]


def generate(path: Path, lines: int, seed: int = 7, miscoded_share: float = 0.2) -> None:
    rng = random.Random(seed)
    payers = ("medicare", "medicare", "commercial", "medicaid")
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        batch: list[str] = []
        for i in range(lines):
            pool = MISCODED if rng.random() < miscoded_share else CLEAN
            code, mods, pos, modality, days, minutes, interactive = rng.choice(pool)
            month = rng.randint(1, 12)
            year = rng.choice((2025, 2026))
            dos = f"{year}-{month:02d}-{rng.randint(1, 28):02d}"
            patient = f"p{rng.randint(1, 2000)}"
            batch.append(
                f"c{i},{dos},{rng.choice(payers)},{code},{mods},{pos},TX,{modality},false,"
                f"{days},{minutes},{interactive},{patient}\n"
            )
            if len(batch) >= 10_000:
                out.writelines(batch)
                batch.clear()
        out.writelines(batch)


_CHILD = """
import json, os, resource, sys, time
from telehealth.coding.audit import Auditor
from telehealth.coding.cli import FindingWriter, OutputFormat
from telehealth.coding.loader import load_codeset
from telehealth.coding.reader import read_claims
mode, path = sys.argv[1], sys.argv[2]
codeset = load_codeset()
start = time.perf_counter()
count = 0
findings = 0
with open(path, encoding="utf-8", newline="") as f, open(os.devnull, "w") as sink:
    if mode == "parse":
        for _ in read_claims(f, path):
            count += 1
    else:
        auditor = Auditor(codeset)
        writer = FindingWriter(sink, OutputFormat.json)
        for hit in auditor.run(read_claims(f, path)):
            writer.hit(hit)
        writer.summary(auditor.summary, codeset.revision)
        findings = auditor.summary.findings
        count = auditor.summary.lines_read
elapsed = time.perf_counter() - start
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"lines": count, "seconds": elapsed, "findings": findings, "peak_rss_kb": rss_kb}))
"""


def run_child(mode: str, path: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument(
        "--repeat", type=int, default=2, help="alternating runs; the best rate of each counts"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        big, small = Path(tmp) / "claims.csv", Path(tmp) / "claims-small.csv"
        started = time.perf_counter()
        generate(big, args.lines)
        generate(small, args.small)
        took = time.perf_counter() - started
        print(f"generated {args.lines:,} + {args.small:,} lines in {took:.1f}s")
        # Alternate the two measurements so background load affects both alike.
        parses, audits = [], []
        for _ in range(max(1, args.repeat)):
            parses.append(run_child("parse", big))
            audits.append(run_child("audit", big))
        parse = min(parses, key=lambda r: r["seconds"])
        audit = min(audits, key=lambda r: r["seconds"])
        audit_small = run_child("audit", small)
    parse_rate = parse["lines"] / parse["seconds"]
    audit_rate = audit["lines"] / audit["seconds"]
    ratio = audit_rate / parse_rate
    print(f"parse only : {parse_rate:>12,.0f} lines/s ({parse['seconds']:.2f}s)")
    print(
        f"full audit : {audit_rate:>12,.0f} lines/s ({audit['seconds']:.2f}s, "
        f"{audit['findings']:,.0f} findings)"
    )
    print(f"ratio      : {ratio:.2f} (target >= 0.30)")
    print(
        f"peak RSS   : audit {args.small:,} lines {audit_small['peak_rss_kb'] / 1024:.1f} MiB, "
        f"audit {args.lines:,} lines {audit['peak_rss_kb'] / 1024:.1f} MiB, "
        f"parse {args.lines:,} lines {parse['peak_rss_kb'] / 1024:.1f} MiB"
    )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(generator process peak RSS {own:.1f} MiB)")
    return 0 if ratio >= 0.3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
