"""PractitionerRole: one per clinician, the role they hold in their organization. Its id is the
clinician's user id, the same as their Practitioner's.

It carries the practitioner and organization, the discipline as ``code``, the profile's
specialties (``urn:telehealth:specialty``, the text as recorded), the weekly availability as
``availableTime`` (times in the clinician's time zone, named by the ``timezone`` extension on
each), and the states where the clinician holds a current license. R4's PractitionerRole has no
qualification element, so each licensed state is an extension
(``urn:telehealth:fhir:licensed-state``, a USPS state code); the license detail stays on the
Practitioner. Access is the Practitioner's.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from telehealth.access import service as access
from telehealth.fhir import organization, practitioner
from telehealth.fhir.content import with_content_meta
from telehealth.fhir.model import SPECIALTY_SYSTEM, Resource, Search, reference
from telehealth.fhir.registry import Emitted, Page, Param, ResourceType
from telehealth.identity import queries as identity_queries
from telehealth.identity.model import discipline_in_words
from telehealth.scope import Scope
from telehealth.visits import availability

if TYPE_CHECKING:
    from telehealth.identity.tables import ClinicianProfile, License, User
    from telehealth.visits.tables import AvailabilityWindow

LICENSED_STATE = "urn:telehealth:fhir:licensed-state"
TIMEZONE = "http://hl7.org/fhir/StructureDefinition/timezone"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
AUDIT_KIND = "clinician_profile"
INCLUDE_PRACTITIONER = "PractitionerRole:practitioner"
INCLUDE_ORGANIZATION = "PractitionerRole:organization"


def _available(window: AvailabilityWindow) -> Resource:
    return {
        "extension": [{"url": TIMEZONE, "valueCode": window.time_zone}],
        "daysOfWeek": [DAYS[window.weekday]],
        "availableStartTime": window.start_time.strftime("%H:%M:%S"),
        "availableEndTime": window.end_time.strftime("%H:%M:%S"),
    }


def role_resource(
    scope: Scope,
    user: User,
    profile: ClinicianProfile | None,
    licenses: Sequence[License],
    windows: Sequence[AvailabilityWindow],
) -> Resource:
    today = scope.clock.now().date()
    states = sorted(
        {lic.state for lic in licenses if practitioner.license_current(lic.expires_on, today)}
    )
    resource: Resource = {
        "resourceType": "PractitionerRole",
        "id": str(user.id),
    }
    if states:
        resource["extension"] = [
            {
                "url": LICENSED_STATE,
                "valueCodeableConcept": {
                    "coding": [{"system": practitioner.USPS_SYSTEM, "code": state}]
                },
            }
            for state in states
        ]
    resource["active"] = bool(user.active)
    resource["practitioner"] = reference("Practitioner", user.id, user.display_name)
    resource["organization"] = reference("Organization", user.org_id)
    discipline = profile.discipline if profile is not None else None
    if discipline:
        resource["code"] = [
            {
                "coding": practitioner.discipline_coding(discipline),
                "text": discipline_in_words(discipline) or discipline,
            }
        ]
    specialties = list(profile.specialties) if profile is not None else []
    if specialties:
        resource["specialty"] = [
            {"coding": [{"system": SPECIALTY_SYSTEM, "code": s}], "text": s.replace("_", " ")}
            for s in specialties
        ]
    if windows:
        resource["availableTime"] = [_available(w) for w in windows]
    return with_content_meta(resource, user.created_at)


def _emitted(
    scope: Scope,
    found: Sequence[tuple[User, ClinicianProfile | None]],
    licenses: Mapping[uuid.UUID, Sequence[License]],
) -> list[Emitted]:
    windows = availability.windows_by_clinician(scope, [user.id for user, _ in found])
    return [
        Emitted(
            role_resource(scope, user, profile, licenses[user.id], windows.get(user.id, [])),
            AUDIT_KIND,
            user.id,
            None,
        )
        for user, profile in found
    ]


def read(scope: Scope, clinician_id: uuid.UUID) -> Emitted:
    user = access.readable_clinician(scope, clinician_id)
    profile = identity_queries.clinician_profile(scope.session, user.id)
    found = [(user, profile)]
    return _emitted(scope, found, practitioner.licenses_by_clinician(scope, found))[0]


def search(scope: Scope, query: Search) -> Page:
    if "organization" in query.params:
        orgs = query.references("organization", "Organization")
        actor = scope.require_actor()
        if actor.org_id not in orgs:
            return Page((), False, 0)
    where = practitioner.clinician_filter(
        query, identifiers=False, specialties=True, ids="practitioner"
    )
    page, more = practitioner.clinicians(scope, query, where)
    licenses = practitioner.licenses_by_clinician(scope, page)
    included: list[Emitted] = []
    if INCLUDE_PRACTITIONER in query.include:
        included += [practitioner.emitted(scope, u, p, licenses[u.id]) for u, p in page]
    if INCLUDE_ORGANIZATION in query.include and page:
        included.append(organization.read(scope, scope.require_actor().org_id))
    return Page(_emitted(scope, page, licenses), more, included=included)


PRACTITIONER_ROLE = ResourceType(
    name="PractitionerRole",
    read=read,
    search=search,
    params=(
        Param("practitioner", "reference", "the clinician (Practitioner)"),
        Param("organization", "reference", "the clinician's organization"),
        Param("specialty", "token", f"a specialty of the clinician's profile ({SPECIALTY_SYSTEM})"),
        Param("active", "token", "whether the clinician's account is active"),
    ),
    includes=(INCLUDE_PRACTITIONER, INCLUDE_ORGANIZATION),
    documentation="One role per clinician of the credential's user's organization (its id is "
    "the clinician's); licensed states as the urn:telehealth:fhir:licensed-state extension",
    patient_compartment=False,
)
