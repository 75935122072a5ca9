"""The fast read of a patient record by bearer token.

One statement fetches the credential, its user, the patient and the facts access needs; the
same pure rules as every other path decide (:mod:`telehealth.access.policy`). The fast read
only ever answers "yes, here it is". Anything else (no such token, an expired or revoked one,
a missing second factor, a hidden or missing patient, a break-glass read that must be
recorded as such) returns ``None``, and the request goes the ordinary way, which produces the
same refusal, and audits it, as it does for every other route.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from telehealth.access import policy, rules
from telehealth.access.repository import BEARER_PATIENT_READ
from telehealth.db.reader import FastReader
from telehealth.identity import credentials
from telehealth.identity.fast import token_actor
from telehealth.identity.model import Actor
from telehealth.identity.schemas import PatientOut, patient_out


@dataclass(frozen=True, slots=True)
class FastPatientRead:
    actor: Actor
    patient: PatientOut


async def read_patient(
    reader: FastReader, token: str, patient_id: uuid.UUID, now: datetime
) -> FastPatientRead | None:
    row = await reader.lookup(
        BEARER_PATIENT_READ,
        {"token_hash": credentials.digest(token), "patient_id": patient_id, "now": now},
    )
    if row is None or row["id"] is None:
        return None
    actor = token_actor(row, now)
    if actor is None:
        return None
    # The statement reports care and grants for clinicians only (see its CASEs).
    facts = policy.PatientFacts.of(
        row["id"],
        row["patient_org_id"],
        in_care=bool(row["in_care"]),
        grant=bool(row["break_glass"]),
    )
    # The patient rule every path uses; a break-glass read goes the ordinary way, which
    # records it as such.
    if rules.patient(actor, rules.ObjectFacts(facts.org_id, facts)) != rules.ALLOW:
        return None
    return FastPatientRead(actor, patient_out(row))
