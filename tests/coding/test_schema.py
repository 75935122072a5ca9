from __future__ import annotations

import json

import jsonschema

from telehealth.coding.audit import Hit
from telehealth.coding.encounter import AuditFinding
from telehealth.coding.schema import SCHEMA_DIR, generate, stale


def test_committed_schemas_match_the_models() -> None:
    assert stale() == []
    for name, text in generate().items():
        assert (SCHEMA_DIR / name).read_text("utf-8") == text


def test_streamed_finding_matches_the_published_shape() -> None:
    assert tuple(Hit._fields) == tuple(AuditFinding.model_fields)
    schema = json.loads((SCHEMA_DIR / "coding-audit-finding.schema.json").read_text("utf-8"))
    hit = Hit("c1", "error", "audit.x", "message", "citation", 3)
    jsonschema.validate(hit.as_dict(), schema)
