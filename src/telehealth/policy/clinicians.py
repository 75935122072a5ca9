"""The clinician's part of a decision's facts, read from their records as they stand.

One reading for every encounter the application decides (a visit, a claimed review case, a
monitoring enrollment): licenses with their expiry, DEA registrations, whether the clinician
holds video visits, and the licensed discipline an administrator recorded, so the engine uses
it instead of only inferring it from the specialty.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from telehealth.identity import queries as identity_queries

# The specialty an encounter is decided under when neither it nor the clinician names one.
DEFAULT_SPECIALTY = "primary_care"


def practised_specialty(session: Session, clinician_id: uuid.UUID, wanted: str | None) -> str:
    """The specialty an encounter is decided under: the one asked for, else the clinician's
    first, else primary care."""
    if wanted:
        return wanted
    profile = identity_queries.clinician_profile(session, clinician_id)
    if profile is not None and profile.specialties:
        return str(profile.specialties[0])
    return DEFAULT_SPECIALTY


def discipline_of(session: Session, clinician_id: uuid.UUID) -> str | None:
    """The clinician's recorded discipline; None when not recorded (the engine infers it)."""
    profile = identity_queries.clinician_profile(session, clinician_id)
    return profile.discipline if profile is not None else None


def clinician_facts(session: Session, clinician_id: uuid.UUID, specialty: str) -> dict[str, Any]:
    """The ``clinician`` object of a facts document for this clinician in ``specialty``."""
    profile = identity_queries.clinician_profile(session, clinician_id)
    return {
        "licenses": [
            {
                "state": lic.state,
                "kind": lic.kind,
                "expires_on": lic.expires_on.isoformat() if lic.expires_on else None,
            }
            for lic in identity_queries.licenses_of(session, clinician_id)
        ],
        "dea_registrations": [
            {"state": d.state, "schedules": list(d.schedules)}
            for d in identity_queries.dea_of(session, clinician_id)
        ],
        "specialty": specialty,
        "video_capable": profile.video_capable if profile is not None else True,
        "discipline": profile.discipline if profile is not None else None,
    }
