"""Modality decision engine: which telehealth modalities fit an encounter, and why.

Rules are data (``policies/``); :func:`load_ruleset` compiles them once and :func:`decide`
is a pure function of the facts and the compiled rule set.
"""

from telehealth.policy.decision import Decision
from telehealth.policy.engine import decide, derive_decision_id
from telehealth.policy.explain import render_explanation, rules_fired
from telehealth.policy.facts import Facts, masked_facts, parse_facts
from telehealth.policy.loader import PolicyError, RuleSet, load_ruleset, validate_packs
from telehealth.vocabulary import MODALITIES

__all__ = [
    "MODALITIES",
    "Decision",
    "Facts",
    "PolicyError",
    "RuleSet",
    "decide",
    "derive_decision_id",
    "load_ruleset",
    "masked_facts",
    "parse_facts",
    "render_explanation",
    "rules_fired",
    "validate_packs",
]
