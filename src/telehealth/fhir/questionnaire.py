"""Questionnaire: the questionnaires the platform asks patients (the pre-visit intake and the
store-and-forward histories), as canonical resources; QuestionnaireResponse: a patient's
answers to a visit's pre-visit intake.

They are defined in :mod:`telehealth.review.model` (``QUESTIONNAIRES``), one per id and
version; a superseded version is ``retired`` and still describes the answers given under it.
The canonical URL is ``urn:telehealth:questionnaire:<id>`` with ``version``; the resource id is
a name-based UUID of both, stable across servers. They hold no patient data: any signed-in
user reads them.

A QuestionnaireResponse is a visit intake (its id): the answers of the intake's case, under
the questionnaire version they were given under (``questionnaire`` is its versioned canonical),
``completed`` once the patient sent it to the clinician and ``in-progress`` before, authored
when sent (or started), and the visit's Encounter once the visit has taken place. It is reached
through the visit's loader, then the case's: whoever may not read the visit gets the answer for
a missing resource.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from telehealth.errors import not_found
from telehealth.fhir.model import (
    Resource,
    Search,
    fetched_page,
    identifier,
    instant,
    meta,
    named_ids,
    page_of,
    reference,
)
from telehealth.fhir.registry import Emitted, Page, Param, ResourceType
from telehealth.portal import service as portal
from telehealth.portal.service import IntakeAnswers
from telehealth.review.model import QUESTIONNAIRES, Question, Questionnaire, QuestionType
from telehealth.scope import Scope
from telehealth.visits import access as visit_access
from telehealth.visits.model import VisitFilter, VisitStatus

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
    page, more = page_of(found, query)
    return Page([emitted(q) for q in page], more, len(found))


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


# --- QuestionnaireResponse: a patient's answers to a visit's intake ----------------------------

RESPONSE_KIND = "visit_intake"
RESPONSE_STATUSES = ("completed", "in-progress")


def _answer(question: Question, value: Any) -> list[Resource]:
    if question.type is QuestionType.BOOLEAN:
        return [{"valueBoolean": bool(value)}]
    if question.type is QuestionType.INTEGER:
        return [{"valueInteger": int(value)}]
    if question.type is QuestionType.TEXT:
        return [{"valueString": str(value)}]
    chosen = value if isinstance(value, list) else [value]
    return [{"valueCoding": {"code": str(c), "display": option_display(str(c))}} for c in chosen]


def response_status(answers: IntakeAnswers) -> str:
    """Sent to the visit's clinician: completed; still being filled in: in progress."""
    return "completed" if answers.intake.completed_at is not None else "in-progress"


def authored(answers: IntakeAnswers) -> datetime:
    return answers.intake.completed_at or answers.intake.created_at


def response_resource(answers: IntakeAnswers) -> Resource:
    intake, visit, case, form = answers.intake, answers.visit, answers.case, answers.form
    given = case.answers or {}
    items = [
        {"linkId": q.id, "text": q.text, "answer": _answer(q, given[q.id])}
        for q in form.questions
        if given.get(q.id) is not None
    ]
    # Sending the intake changes no case row: it counts as a version of its own.
    version = case.version + (1 if intake.completed_at is not None else 0)
    updated = max(case.updated_at, intake.completed_at or case.updated_at)
    resource: Resource = {
        "resourceType": "QuestionnaireResponse",
        "id": str(intake.id),
        "meta": meta(version, updated),
        "identifier": identifier("visit-intake", str(intake.id)),
        "questionnaire": canonical(form),
        "status": response_status(answers),
        "subject": reference("Patient", intake.patient_id),
        "authored": instant(authored(answers)),
        "author": reference("Patient", intake.patient_id),
        "source": reference("Patient", intake.patient_id),
        "item": items,
    }
    if visit.status in (VisitStatus.IN_PROGRESS.value, VisitStatus.COMPLETED.value):
        # The visit has taken place: it is an Encounter the answers were gathered for.
        resource["encounter"] = reference("Encounter", visit.id)
    if not items:
        del resource["item"]
    return resource


def emitted_response(answers: IntakeAnswers) -> Emitted:
    return Emitted(
        response_resource(answers),
        RESPONSE_KIND,
        answers.intake.id,
        answers.intake.patient_id,
        visit_access.visit_subject(answers.visit).named,
    )


def read_response(scope: Scope, intake_id: uuid.UUID) -> Emitted:
    return emitted_response(portal.intake_answers(scope, intake_id))


def _response_matches(answers: IntakeAnswers, query: Search) -> bool:
    ids = query.ids()
    if ids is not None and answers.intake.id not in ids:
        return False
    wanted = query.values("questionnaire")
    form = answers.form
    if wanted and not {canonical(form), canonical_url(form), str(questionnaire_id(form))} & {
        w.removeprefix("Questionnaire/") for w in wanted
    }:
        return False
    statuses = [t.code for t in query.tokens("status")]
    if statuses and response_status(answers) not in statuses:
        return False
    when = query.dates("authored")
    return when is None or when.admits(authored(answers))


def search_responses(scope: Scope, query: Search) -> Page:
    """Pages through the visits the actor may read (the visits' list, its ``patient`` filter)
    and answers the intakes of each page's visits that match: a page may hold fewer responses
    than ``_count``; the ``next`` link goes on while visits remain."""
    patients = named_ids(query, "patient", "Patient")
    if patients == []:
        return Page((), False, 0)
    where = VisitFilter(patient_ids=patients)
    visits = visit_access.readable_visits(
        scope, limit=query.count + 1, offset=query.offset, where=where, record=False
    )
    page, more = fetched_page(visits, query)
    found = [a for a in portal.intakes_of_visits(scope, page) if _response_matches(a, query)]
    return Page([emitted_response(a) for a in found], more)


QUESTIONNAIRE_RESPONSE = ResourceType(
    name="QuestionnaireResponse",
    read=read_response,
    search=search_responses,
    params=(
        Param("patient", "reference", "the patient's answers (Patient/<id>)"),
        Param(
            "questionnaire",
            "reference",
            "the questionnaire answered: its canonical URL (with |version) or Questionnaire/<id>",
        ),
        Param("authored", "date", "when the answers were sent (or started), with prefixes"),
        Param("status", "token", "status: " + ", ".join(RESPONSE_STATUSES)),
    ),
    documentation="Patients' pre-visit intake answers, reached through their visit",
)
