"""Coding and claim audit: encounters to billing lines, and miscoded claims found.

Pure core: :func:`code_encounter` (engine), :class:`Auditor` (audit), the compiled
:class:`CodeSet` loaded from ``policies/coding``. I/O lives in ``reader`` and ``cli``.
"""

from telehealth.coding.audit import Auditor, AuditSummary, Hit, audit_claims
from telehealth.coding.codeset import CodeSet
from telehealth.coding.encounter import AuditFinding, CodingResult, Encounter, Finding, Line
from telehealth.coding.engine import code_encounter
from telehealth.coding.loader import default_codeset, load_codeset

__all__ = [
    "AuditFinding",
    "AuditSummary",
    "Auditor",
    "CodeSet",
    "CodingResult",
    "Encounter",
    "Finding",
    "Hit",
    "Line",
    "audit_claims",
    "code_encounter",
    "default_codeset",
    "load_codeset",
]
