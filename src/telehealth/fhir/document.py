"""DocumentReference: the files of store-and-forward cases (photos, videos, documents, lab
results), the review capability's media; and their content, served at ``Binary/<id>``.

The content is the native download's (:func:`telehealth.review.service.open_media`): the same
access rule, verification of the stored bytes and download audit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from telehealth.fhir import smart
from telehealth.fhir.model import (
    IDENTIFIER_SYSTEM,
    Resource,
    Search,
    date_bounds,
    fetched_page,
    instant,
    meta,
    named_ids,
    reference,
)
from telehealth.fhir.registry import Emitted, Page, Param, ResourceType
from telehealth.fhir.service_request import case_query, included_patients
from telehealth.review import service as review
from telehealth.review.model import CaseKind, MediaKind
from telehealth.scope import Scope

if TYPE_CHECKING:
    from telehealth.review.tables import ReviewCase, ReviewMedia

MEDIA = "review_media"
MEDIA_KIND_SYSTEM = f"{IDENTIFIER_SYSTEM}:media-kind"
# Where a document's content is served (the FHIR routes mount it beside the resource types).
BINARY_PATH = "/fhir/R4/Binary"
KIND_NAMES = {
    MediaKind.IMAGE: "Photograph",
    MediaKind.VIDEO: "Video recording",
    MediaKind.DOCUMENT: "Document",
    MediaKind.OBSERVATION: "Lab result",
}


def _author(media: ReviewMedia, case: ReviewCase) -> Resource:
    """The patient where they sent their own request's file, else the clinician who did."""
    own = CaseKind(case.kind) is CaseKind.SELF_REFERRAL and media.uploaded_by == case.originator_id
    return (
        reference("Patient", case.patient_id)
        if own
        else reference("Practitioner", media.uploaded_by)
    )


def document_reference(media: ReviewMedia, case: ReviewCase, content_url: str) -> Resource:
    kind = MediaKind(media.kind)
    return {
        "resourceType": "DocumentReference",
        "id": str(media.id),
        # A file never changes once stored.
        "meta": meta(1, media.created_at),
        "status": "current",
        "type": {"text": KIND_NAMES[kind]},
        "category": [
            {
                "coding": [
                    {"system": MEDIA_KIND_SYSTEM, "code": kind.value, "display": KIND_NAMES[kind]}
                ]
            }
        ],
        "subject": reference("Patient", case.patient_id),
        "date": instant(media.created_at),
        "author": [_author(media, case)],
        "content": [
            {
                "attachment": {
                    "contentType": media.content_type,
                    "url": content_url,
                    "size": media.size,
                    "title": media.filename,
                    "creation": instant(media.created_at),
                }
            }
        ],
        "context": {"related": [reference("ServiceRequest", case.id)]},
    }


def content_url(scope: Scope, media_id: uuid.UUID) -> str:
    return scope.settings.link(f"{BINARY_PATH}/{media_id}")


def emitted(scope: Scope, media: ReviewMedia, case: ReviewCase) -> Emitted:
    return Emitted(
        document_reference(media, case, content_url(scope, media.id)),
        MEDIA,
        media.id,
        case.patient_id,
        review.named_on(case),
    )


def read(scope: Scope, media_id: uuid.UUID) -> Emitted:
    media, case = review.readable_media(scope, media_id)
    return emitted(scope, media, case)


def open_content(scope: Scope, media_id: uuid.UUID) -> tuple[ReviewMedia, Iterator[bytes]]:
    """A document's decrypted content, reached and audited as the native download; the
    content is the DocumentReference's, so reading it takes that type's read scope."""
    smart.require(scope, DOCUMENT_REFERENCE, smart.Interaction.READ)
    media, case = review.readable_media(scope, media_id)
    return review.open_media(scope, case.id, media.id)


def search(scope: Scope, query: Search) -> Page:
    kinds = None
    if "category" in query.params:
        kinds = [
            t.code
            for t in query.tokens("category")
            if t.code is not None and t.system in (None, MEDIA_KIND_SYSTEM)
        ]
    found = review.search_media(
        scope,
        replace(case_query(query), ids=named_ids(query, "related", "ServiceRequest")),
        named_ids(query, "_id"),
        kinds,
        date_bounds(query, "date"),
        query.count + 1,
        query.offset,
    )
    page, more = fetched_page(found, query)
    matches = [emitted(scope, media, case) for media, case in page]
    included = included_patients(scope, query, INCLUDE_PATIENT, matches)
    return Page(matches, more, included=included)


INCLUDE_PATIENT = "DocumentReference:patient"
DOCUMENT_REFERENCE = ResourceType(
    name="DocumentReference",
    read=read,
    search=search,
    params=(
        Param("patient", "reference", "the patient the document is about"),
        Param("subject", "reference", "the patient the document is about"),
        Param("date", "date", "when the file was stored, with prefixes"),
        Param("category", "token", f"{MEDIA_KIND_SYSTEM}: image | video | document | observation"),
        Param("related", "reference", "the ServiceRequest (case) the file belongs to"),
    ),
    includes=(INCLUDE_PATIENT,),
    documentation=(
        "Files of store-and-forward cases; attachment.url serves the content (Binary/<id>) "
        "with the native download's access rule and audit."
    ),
)
