"""Every capability's tables, imported so one metadata describes the whole schema."""

from __future__ import annotations

from sqlalchemy import MetaData

from telehealth.access import tables as access_tables
from telehealth.audit import tables as audit_tables
from telehealth.db.base import Base
from telehealth.fhir import export_tables as fhir_export_tables
from telehealth.fhir import tables as fhir_tables
from telehealth.identity import tables as identity_tables
from telehealth.jobs import tables as jobs_tables
from telehealth.monitoring import tables as monitoring_tables
from telehealth.notifications import tables as notification_tables
from telehealth.policy import records as policy_tables
from telehealth.portal import tables as portal_tables
from telehealth.review import tables as review_tables
from telehealth.visits import tables as visits_tables

MODULES = (
    access_tables,
    audit_tables,
    fhir_export_tables,
    fhir_tables,
    identity_tables,
    jobs_tables,
    monitoring_tables,
    notification_tables,
    policy_tables,
    portal_tables,
    review_tables,
    visits_tables,
)


def metadata() -> MetaData:
    return Base.metadata
