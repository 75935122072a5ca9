"""The published JSON Schemas match the models and accept real documents."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jsonschema

from telehealth.policy.engine import decide
from telehealth.policy.schema import DECISION_SCHEMA, FACTS_SCHEMA, generated
from tests.policy.support import default_facts, ruleset


def test_committed_schemas_equal_generated() -> None:
    for path, text in generated().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} is stale: run python -m telehealth.policy.schema"
        )


def test_facts_validate_against_schema() -> None:
    schema = json.loads(FACTS_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validate(default_facts(), schema)
    bad = default_facts()
    bad["patient"]["location_state"] = "XX"
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(bad))


def test_decision_validates_against_schema() -> None:
    schema = json.loads(DECISION_SCHEMA.read_text(encoding="utf-8"))
    facts = default_facts()
    facts["encounter"]["controlled_substance"] = {"schedule": "III"}
    decision = decide(facts, ruleset(), evaluated_at=datetime(2026, 11, 27, tzinfo=UTC))
    jsonschema.validate(json.loads(decision.model_dump_json()), schema)
