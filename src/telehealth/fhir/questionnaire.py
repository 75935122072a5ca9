"""Questionnaire: the questionnaires the platform asks patients (the pre-visit intake and the
store-and-forward histories), as canonical resources.

They are defined in :mod:`telehealth.review.model` (``QUESTIONNAIRES``), one per id and
version; a superseded version is ``retired`` and still describes the answers given under it.
The canonical URL is ``urn:telehealth:questionnaire:<id>`` with ``version``; the resource id is
a name-based UUID of both, stable across servers. They hold no patient data: any signed-in
user reads them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from telehealth.errors import not_found
from telehealth.fhir.model import Resource, Search
from telehealth.fhir.registry import Emitted, Page, Param, ResourceType
from telehealth.review.model import QUESTIONNAIRES, Question, Questionnaire, QuestionType
from telehealth.scope import Scope

KIND = "questionnaire"
CANONICAL = "urn:telehealth:questionnaire"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
ITEM_TYPE = {
    QuestionType.CHOICE: "choice",
    QuestionType.MULTI_CHOICE: "choice",
    QuestionType.TEXT: "text",
    QuestionType.INTEGER: "integer",
    QuestionType.BOOLEAN: "boolean",
}


def canonical_url(form: Questionnaire) -> str:
    return f"{CANONICAL}:{form.id}"


def canonical(form: Questionnaire) -> str:
    """The versioned canonical reference a QuestionnaireResponse names."""
    return f"{canonical_url(form)}|{form.version}"


def questionnaire_id(form: Questionnaire) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, canonical(form))


BY_ID: dict[uuid.UUID, Questionnaire] = {questionnaire_id(q): q for q in QUESTIONNAIRES.values()}


def option_display(option: str) -> str:
    return option.replace("_", " ").capitalize()


def _item(question: Question) -> Resource:
    item: Resource = {
        "linkId": question.id,
        "text": question.text,
        "type": ITEM_TYPE[question.type],
        "required": question.required,
    }
    if question.type is QuestionType.MULTI_CHOICE:
        item["repeats"] = True
    if question.options:
        item["answerOption"] = [
            {"valueCoding": {"code": option, "display": option_display(option)}}
            for option in question.options
        ]
    if question.type is QuestionType.TEXT:
        item["maxLength"] = question.max_length
    bounds = [
        {"url": url, "valueInteger": value}
        for url, value in ((MIN_VALUE, question.minimum), (MAX_VALUE, question.maximum))
        if value is not None
    ]
    if bounds:
        item["extension"] = bounds
    return item


def questionnaire_resource(form: Questionnaire) -> Resource:
    return {
        "resourceType": "Questionnaire",
        "id": str(questionnaire_id(form)),
        "meta": {"versionId": str(form.version)},
        "url": canonical_url(form),
        "version": str(form.version),
        "name": "".join(part.capitalize() for part in form.id.split("_")),
        "title": form.title,
        "status": "active" if form.current else "retired",
        "subjectType": ["Patient"],
        "item": [_item(q) for q in form.questions],
    }


def emitted(form: Questionnaire) -> Emitted:
    return Emitted(questionnaire_resource(form), KIND, questionnaire_id(form), None)


def read(scope: Scope, resource_id: uuid.UUID) -> Emitted:
    scope.require_actor()
    form = BY_ID.get(resource_id)
    if form is None:
        raise not_found("questionnaire")
    return emitted(form)


def _matches(form: Questionnaire, query: Search) -> bool:
    ids = query.ids()
    if ids is not None and questionnaire_id(form) not in ids:
        return False
    urls = query.values("url")
    if urls and canonical_url(form) not in urls and canonical(form) not in urls:
        return False
    names = [n.lower() for n in query.values("name")]
    if names and not any(form.id.replace("_", "").startswith(n) for n in names):
        return False
    statuses = query.tokens("status")
    status = "active" if form.current else "retired"
    return not statuses or any(t.code == status for t in statuses)


def search(scope: Scope, query: Search) -> Page:
    scope.require_actor()
    found: Sequence[Questionnaire] = [q for q in QUESTIONNAIRES.values() if _matches(q, query)]
    page = found[query.offset : query.offset + query.count]
    return Page([emitted(q) for q in page], query.offset + query.count < len(found), len(found))


QUESTIONNAIRE = ResourceType(
    name="Questionnaire",
    read=read,
    search=search,
    params=(
        Param(
            "url", "uri", "the canonical URL (urn:telehealth:questionnaire:<id>), or with |version"
        ),
        Param("name", "string", "the computable name, from its start"),
        Param("status", "token", "status: active, retired"),
    ),
    documentation="The questionnaires patients answer (no patient data: any signed-in user)",
    patient_compartment=False,
)
