"""The FHIR API's tables: registered system clients (SMART Backend Services) and the client
assertions they have used, kept until they expire so none is accepted twice."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from telehealth.db.base import Base, UTCDateTime, new_id


class SystemClient(Base):
    """A system client an organization's administrator registered: its public keys, the
    system scopes it may be granted, and the service account its tokens act as."""

    __tablename__ = "fhir_clients"

    # The client id: ``iss`` and ``sub`` of its assertions.
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    # The service account (``users.system_client``) the client's tokens act as.
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # The client's public JWKS (RSA and EC keys, each with a ``kid``), as registered.
    jwks: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The system scopes it may be granted (space-separated SMART v2 scopes).
    scopes: Mapped[str] = mapped_column(String(1000))
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UsedAssertion(Base):
    """A client assertion's ``jti``, kept until the assertion expires: a replay is refused."""

    __tablename__ = "fhir_client_assertions"
    __table_args__ = (UniqueConstraint("client_id", "jti"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("fhir_clients.id"))
    jti: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
