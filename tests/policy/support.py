"""Shared helpers for the policy tests."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from telehealth.policy.loader import RuleSet, default_policies_dir, load_ruleset

POLICIES = default_policies_dir()


@cache
def ruleset() -> RuleSet:
    return load_ruleset()


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
