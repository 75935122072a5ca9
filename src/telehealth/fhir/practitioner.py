"""Practitioner: the organization's clinicians, from identity's users and clinician profiles,
shaped on US Core Practitioner: the NPI (``http://hl7.org/fhir/sid/us-npi``) where recorded,
the display name, one qualification per state license (the discipline as its code, the
license's state as issuer and Plan-Net's ``whereValid``, its expiry as the period's end) and
the languages visits are held in.

Access is ``GET /v1/clinicians/{id}``'s: a clinician of the actor's organization, anyone
else's answering as missing; the NPI and license numbers only for readers who may see the
clinician's credentials (the clinician and their organization's managers).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

from telehealth.access import service as access
from telehealth.fhir.content import with_content_meta
from telehealth.fhir.model import Resource, Search, fetched_page, identifier, named_ids
from telehealth.fhir.registry import Emitted, Page, Param, ResourceType
from telehealth.identity import queries as identity_queries
from telehealth.identity.model import discipline_in_words
from telehealth.scope import Scope

if TYPE_CHECKING:
    from telehealth.identity.tables import ClinicianProfile, License, User

NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
USPS_SYSTEM = "https://www.usps.com/"
DISCIPLINE_SYSTEM = "urn:telehealth:discipline"
LICENSE_KIND_SYSTEM = "urn:telehealth:license-kind"
PLAN_NET_QUALIFICATION = (
    "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/practitioner-qualification"
)
LANGUAGE_SYSTEM = "urn:ietf:bcp:47"
AUDIT_KIND = "clinician"


def license_current(expires_on: date | None, today: date) -> bool:
    return expires_on is None or expires_on >= today


def discipline_coding(discipline: str | None) -> list[Resource]:
    """A recorded discipline as a coding (none when not recorded)."""
    if not discipline:
        return []
    coding: Resource = {"system": DISCIPLINE_SYSTEM, "code": discipline}
    words = discipline_in_words(discipline)
    if words:
        coding["display"] = words
    return [coding]


def _qualification(
    discipline: str | None,
    state: str,
    kind: str,
    number: str | None,
    expires_on: date | None,
    today: date,
) -> Resource:
    status = "active" if license_current(expires_on, today) else "inactive"
    where_valid = {"coding": [{"system": USPS_SYSTEM, "code": state}]}
    out: Resource = {
        "extension": [
            {
                "url": PLAN_NET_QUALIFICATION,
                "extension": [
                    {"url": "status", "valueCode": status},
                    {"url": "whereValid", "valueCodeableConcept": where_valid},
                ],
            }
        ]
    }
    if number is not None:
        out["identifier"] = [identifier(f"license:{state}", number)]
    out["code"] = {
        "coding": [*discipline_coding(discipline), {"system": LICENSE_KIND_SYSTEM, "code": kind}],
        "text": f"{discipline_in_words(discipline) or 'Clinical'} license, {state}",
    }
    if expires_on is not None:
        out["period"] = {"end": expires_on.isoformat()}
    out["issuer"] = {"display": f"{state} licensing board"}
    return out


def practitioner_resource(
    scope: Scope,
    user: User,
    profile: ClinicianProfile | None,
    licenses: Sequence[License],
    credentials: bool,
) -> Resource:
    """The Practitioner of a clinician; ``credentials``: whether the reader may see the NPI and
    license numbers."""
    today = scope.clock.now().date()
    discipline = profile.discipline if profile is not None else None
    resource: Resource = {
        "resourceType": "Practitioner",
        "id": str(user.id),
    }
    if credentials and profile is not None and profile.npi:
        resource["identifier"] = [{"system": NPI_SYSTEM, "value": profile.npi}]
    resource["active"] = bool(user.active)
    resource["name"] = [{"use": "official", "text": user.display_name}]
    qualifications = [
        _qualification(
            discipline,
            lic.state,
            lic.kind,
            lic.number if credentials else None,
            lic.expires_on,
            today,
        )
        for lic in licenses
    ]
    if qualifications:
        resource["qualification"] = qualifications
    if profile is not None and profile.languages:
        resource["communication"] = [
            {"coding": [{"system": LANGUAGE_SYSTEM, "code": tag}]} for tag in profile.languages
        ]
    return with_content_meta(resource, user.created_at)


def emitted(
    scope: Scope, user: User, profile: ClinicianProfile | None, licenses: Sequence[License]
) -> Emitted:
    credentials = access.may_see_credentials(scope, user)
    resource = practitioner_resource(scope, user, profile, licenses, credentials)
    return Emitted(resource, AUDIT_KIND, user.id, None)


def read(scope: Scope, clinician_id: uuid.UUID) -> Emitted:
    user = access.readable_clinician(scope, clinician_id)
    profile = identity_queries.clinician_profile(scope.session, user.id)
    return emitted(scope, user, profile, identity_queries.licenses_of(scope.session, user.id))


def clinicians(
    scope: Scope, query: Search, where: identity_queries.ClinicianFilter | None
) -> tuple[Sequence[tuple[User, ClinicianProfile | None]], bool]:
    """One page of the clinicians a search matches (None: it can match none), and whether
    more follow."""
    if where is None:
        return [], False
    found = access.readable_clinicians(
        scope, limit=query.count + 1, offset=query.offset, where=where
    )
    return fetched_page(found, query)


def search(scope: Scope, query: Search) -> Page:
    page, more = clinicians(scope, query, clinician_filter(query, identifiers=True))
    licenses = licenses_by_clinician(scope, page)
    return Page([emitted(scope, u, p, licenses[u.id]) for u, p in page], more)


def licenses_by_clinician(
    scope: Scope, clinicians: Sequence[tuple[User, ClinicianProfile | None]]
) -> dict[uuid.UUID, Sequence[License]]:
    """The licenses of each clinician of a page, read once for whichever resources show them."""
    return {u.id: identity_queries.licenses_of(scope.session, u.id) for u, _ in clinicians}


def active_filter(query: Search) -> bool | None:
    """``active``: true, false, or either (absent, or both asked for)."""
    wanted = {t.code for t in query.tokens("active") if t.code in ("true", "false")}
    if len(wanted) != 1:
        return None
    return wanted == {"true"}


def clinician_filter(
    query: Search, *, identifiers: bool, specialties: bool = False, ids: str = "_id"
) -> identity_queries.ClinicianFilter | None:
    """The search as a clinician filter; None when it can match nothing."""
    wanted = named_ids(query, ids, "Practitioner")
    if ids != "_id":
        own = named_ids(query, "_id")
        if own is not None:
            wanted = own if wanted is None else [i for i in wanted if i in own]
    if wanted == []:
        return None
    npis: list[str] | None = None
    if identifiers and "identifier" in query.params:
        npis = [
            t.code
            for t in query.tokens("identifier")
            if t.code is not None and t.system in (None, NPI_SYSTEM)
        ]
        if not npis:
            return None
    codes: list[str] | None = None
    if specialties and "specialty" in query.params:
        codes = [t.code.lower() for t in query.tokens("specialty") if t.code is not None]
        if not codes:
            return None
    return identity_queries.ClinicianFilter(
        ids=wanted,
        npis=npis,
        name=query.one("name") if identifiers else None,
        active=active_filter(query),
        specialties=codes,
    )


PRACTITIONER = ResourceType(
    name="Practitioner",
    read=read,
    search=search,
    params=(
        Param("identifier", "token", f"the NPI ({NPI_SYSTEM}), for readers of credentials"),
        Param("name", "string", "the start of any word of the clinician's name"),
        Param("active", "token", "whether the clinician's account is active"),
    ),
    documentation="The clinicians of the credential's user's organization; the NPI and license "
    "numbers only for the clinician and their organization's coordinators and administrators",
    patient_compartment=False,
)
