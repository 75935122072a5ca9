"""JSON Schemas of the facts and decision documents.

``python -m telehealth.policy.schema`` rewrites the published files under
``src/telehealth/schemas/``; a test asserts they equal what the models generate.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from telehealth.policy.decision import Decision
from telehealth.policy.facts import Facts

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
FACTS_SCHEMA = SCHEMA_DIR / "policy-facts.schema.json"
DECISION_SCHEMA = SCHEMA_DIR / "policy-decision.schema.json"


def _schema(model: type[Facts] | type[Decision], title: str, mode: str) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation" if mode == "validation" else "serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://telehealth.example/schemas/{title}.schema.json",
        **schema,
    }


def facts_schema() -> dict[str, Any]:
    return _schema(Facts, "policy-facts", "validation")


def decision_schema() -> dict[str, Any]:
    return _schema(Decision, "policy-decision", "serialization")


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generated() -> dict[Path, str]:
    return {FACTS_SCHEMA: render(facts_schema()), DECISION_SCHEMA: render(decision_schema())}


def write_schemas() -> list[Path]:
    written = []
    for path, text in generated().items():
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_schemas():
        sys.stdout.write(f"wrote {written_path}\n")
