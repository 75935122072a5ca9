"""Tables of the portal capability: the pre-visit intake that links a visit to a review case."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from telehealth.db.base import Base, UTCDateTime, new_id


class VisitIntake(Base):
    """A scheduled visit's asynchronous intake: questionnaire and photos held as a review case.

    The case stays a draft owned by the patient; it is never routed to a specialist queue.
    ``completed_at`` is set when the patient sends it to the visit's clinician.
    """

    __tablename__ = "visit_intakes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visits.id"), unique=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("review_cases.id"), unique=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
