"""POST /v1/decisions vs a hello-world JSON endpoint of the same application stack.

Target: validated, decided and stored decisions sustain at least 0.6x the requests/s of the
application's own hello-world JSON endpoint (``/healthz``: same FastAPI app, middleware and
server), one uvicorn worker, same run, wrk as the load generator in a separate process. The two
loads alternate for ``--rounds`` rounds; the median of the rounds' ratios is reported.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from auth_read import database
from harness import alternate, report_rounds, seed_patient, uvicorn_server, wrk
from telehealth.config import Settings
from telehealth.db.migrate import upgrade

FACTS = {
    "date_of_service": "2026-12-01",
    "patient": {
        "location_state": "TX",
        "setting": "home",
        "payer": "medicare",
        "established": True,
        "last_in_person_visit": "2026-06-01",
        "video_capable": True,
        "consents_to_video": True,
    },
    "clinician": {
        "licenses": [{"state": "TX", "kind": "full"}],
        "dea_registrations": [],
        "specialty": "dermatology",
        "video_capable": True,
    },
    "encounter": {
        "specialty": "dermatology",
        "acuity": "routine",
        "purpose": "follow_up",
        "controlled_substance": None,
    },
}


def _post_script(workdir: Path) -> Path:
    body = json.dumps(FACTS).replace("\\", "\\\\").replace('"', '\\"')
    script = workdir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f'wrk.body = "{body}"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with database(args.db, workdir) as url:
            upgrade(url)
            settings = Settings(data_dir=workdir, database_url=url, api_token_minutes=1440)
            token = seed_patient(settings).token
            env = {
                "TELEHEALTH_DATA_DIR": str(workdir),
                "TELEHEALTH_DATABASE_URL": url,
                "TELEHEALTH_API_TOKEN_MINUTES": "1440",
            }
            with uvicorn_server(
                "telehealth.app:create_app_from_env", factory=True, env=env
            ) as server:
                script = _post_script(workdir)
                pairs = alternate(
                    lambda: wrk(server + "/healthz", seconds=args.seconds),
                    lambda: wrk(
                        server + "/v1/decisions",
                        seconds=args.seconds,
                        headers={"Authorization": f"Bearer {token}"},
                        script=script,
                    ),
                    args.rounds,
                )
    print(f"database: {args.db}")
    ratio = report_rounds(pairs, "hello-world (same app)", "POST /v1/decisions")
    print(f"median ratio: {ratio:.3f} (target >= 0.6)")


if __name__ == "__main__":
    main()
