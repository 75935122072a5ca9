"""Every capability's tables, imported so one metadata describes the whole schema."""

from __future__ import annotations

from sqlalchemy import MetaData

from telehealth.access import tables as access_tables
from telehealth.audit import tables as audit_tables
from telehealth.db.base import Base
from telehealth.identity import tables as identity_tables

MODULES = (access_tables, audit_tables, identity_tables)


def metadata() -> MetaData:
    return Base.metadata
