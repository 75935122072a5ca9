"""JSON Schemas of the coding contract, generated from the pydantic models.

``python -m telehealth.coding.schema`` rewrites the committed files;
``python -m telehealth.coding.schema --check`` exits 1 if any differs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from telehealth.coding.encounter import AuditFinding, CodingResult, Encounter

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
SCHEMAS: dict[str, type[BaseModel]] = {
    "coding-encounter.schema.json": Encounter,
    "coding-result.schema.json": CodingResult,
    "coding-audit-finding.schema.json": AuditFinding,
}


def render(model: type[BaseModel]) -> str:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **model.model_json_schema(),
    }
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generate() -> dict[str, str]:
    return {name: render(model) for name, model in SCHEMAS.items()}


def stale(directory: Path = SCHEMA_DIR) -> list[str]:
    """Names of committed schema files that differ from the generated ones."""
    return [
        name
        for name, text in generate().items()
        if not (directory / name).is_file() or (directory / name).read_text("utf-8") != text
    ]


def write(directory: Path = SCHEMA_DIR) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in generate().items():
        (directory / name).write_text(text, encoding="utf-8")


def main(argv: list[str]) -> int:
    if "--check" in argv:
        differing = stale()
        for name in differing:
            sys.stderr.write(f"{name} is out of date: run python -m telehealth.coding.schema\n")
        return 1 if differing else 0
    write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
