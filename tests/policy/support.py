"""Shared helpers for the policy tests."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from telehealth.errors import DomainError, ErrorCode
from telehealth.policy.facts import parse_facts
from telehealth.policy.loader import RuleSet, default_policies_dir, load_ruleset

POLICIES = default_policies_dir()


@cache
def ruleset() -> RuleSet:
    return load_ruleset()


def assert_invalid_names_field(path: tuple[str, str], value: object) -> None:
    """Default facts with ``path`` set to ``value`` are refused, naming the dotted field."""
    facts = default_facts()
    facts[path[0]][path[1]] = value
    with pytest.raises(DomainError) as info:
        parse_facts(facts)
    assert info.value.code is ErrorCode.INVALID_INPUT
    assert ".".join(path) in info.value.message


def default_facts() -> dict[str, Any]:
    data = yaml.safe_load((POLICIES / "cases.defaults.yaml").read_text(encoding="utf-8"))
    return copy.deepcopy(data["facts"])


def copy_policies(target: Path) -> Path:
    """A writable copy of the modality packs (for tests that break them on purpose)."""
    import shutil

    root = target / "policies"
    for sub in ("federal", "states", "payers", "clinical", "access"):
        shutil.copytree(POLICIES / sub, root / sub)
    shutil.copy(POLICIES / "cases.defaults.yaml", root / "cases.defaults.yaml")
    return root
