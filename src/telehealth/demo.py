"""The demo organization: clearly marked sample people for trying the platform locally."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from telehealth.identity import repository
from telehealth.identity import service as identity
from telehealth.identity.model import CareSource, LicenseKind, Role
from telehealth.scope import Scope

DEMO_ORG_NAME = "Demo Clinic (DEMO DATA - not real people)"
DOMAIN = "demo.telehealth.test"


@dataclass(frozen=True)
class DemoAccount:
    email: str
    role: str
    password: str
    display_name: str
    totp_secret: str | None = None


@dataclass(frozen=True)
class _Clinician:
    key: str
    name: str
    specialties: tuple[str, ...]
    licenses: tuple[tuple[str, LicenseKind], ...]
    dea: tuple[tuple[str, tuple[str, ...]], ...] = ()
    compacts: tuple[tuple[str, str], ...] = ()


_CLINICIANS = (
    _Clinician(
        "dr.derm",
        "Dr. Dana Derm (demo)",
        ("dermatology",),
        (
            ("TX", LicenseKind.FULL),
            ("CA", LicenseKind.FULL),
            ("FL", LicenseKind.TELEHEALTH_REGISTRATION),
        ),
    ),
    _Clinician(
        "dr.psych",
        "Dr. Parker Psych (demo)",
        ("psychiatry",),
        (("NY", LicenseKind.FULL), ("NJ", LicenseKind.FULL)),
        dea=(("NY", ("II", "III", "IV", "V")),),
    ),
    _Clinician(
        "dr.pcp",
        "Dr. Pat Primary (demo)",
        ("primary_care",),
        (("FL", LicenseKind.FULL), ("TX", LicenseKind.FULL), ("AK", LicenseKind.FULL)),
        dea=(("FL", ("II", "III", "IV", "V")), ("TX", ("III", "IV", "V"))),
    ),
    _Clinician(
        "dr.rad",
        "Dr. Robin Rad (demo)",
        ("radiology",),
        (("CO", LicenseKind.FULL), ("TX", LicenseKind.COMPACT), ("NY", LicenseKind.FULL)),
        compacts=(("IMLC", "CO"),),
    ),
)

# (key, given, family, birth date, state, clinicians in their care)
_PATIENTS = (
    ("pat.tx", "Taylor", "Texan", date(1980, 4, 2), "TX", ("dr.derm", "dr.pcp", "dr.rad")),
    ("pat.ca", "Casey", "Californian", date(1992, 9, 14), "CA", ("dr.derm",)),
    ("pat.ny", "Noor", "Newyorker", date(1975, 1, 30), "NY", ("dr.psych", "dr.rad")),
    ("pat.fl", "Frankie", "Floridian", date(1958, 6, 21), "FL", ("dr.pcp", "dr.derm")),
    ("pat.ak", "Alex", "Alaskan", date(1969, 11, 5), "AK", ("dr.pcp",)),
)


def credentials_file(data_dir: Path) -> Path:
    return data_dir / "demo-accounts.json"


def load_demo(scope: Scope, data_dir: Path) -> tuple[list[DemoAccount], bool]:
    """Creates the demo organization once; later calls return the saved accounts."""
    saved = credentials_file(data_dir)
    if repository.demo_organization(scope.session) is not None:
        if saved.exists():
            return [DemoAccount(**item) for item in json.loads(saved.read_text())], False
        return [], False
    org = identity.create_organization(scope, DEMO_ORG_NAME, is_demo=True)
    accounts: list[DemoAccount] = []

    def account(key: str, role: Role, name: str) -> identity.NewUser:
        password = secrets.token_urlsafe(12)
        created = identity.create_user(
            scope,
            org_id=org.id,
            email=f"{key}@{DOMAIN}",
            role=role,
            display_name=name,
            password=password,
        )
        accounts.append(
            DemoAccount(created.user.email, role.value, password, name, created.totp_secret)
        )
        return created

    account("admin", Role.ADMIN, "Avery Admin (demo)")
    account("coordinator", Role.COORDINATOR, "Corey Coordinator (demo)")
    clinician_ids = {}
    for spec in _CLINICIANS:
        user = account(spec.key, Role.CLINICIAN, spec.name).user
        clinician_ids[spec.key] = user.id
        identity.set_clinician_profile(
            scope, user.id, specialties=list(spec.specialties), video_capable=True
        )
        for state, kind in spec.licenses:
            identity.add_license(
                scope,
                user.id,
                state=state,
                kind=kind,
                number=f"DEMO-{state}-{secrets.randbelow(10**6):06d}",
                expires_on=date(2028, 12, 31),
            )
        for state, schedules in spec.dea:
            identity.add_dea_registration(
                scope,
                user.id,
                state=state,
                number=f"XD{secrets.randbelow(10**7):07d}",
                schedules=list(schedules),
                expires_on=date(2028, 6, 30),
            )
        for compact, principal in spec.compacts:
            identity.add_compact(scope, user.id, compact=compact, principal_state=principal)
    for key, given, family, born, state, carers in _PATIENTS:
        user = account(key, Role.PATIENT, f"{given} {family} (demo)").user
        patient = identity.create_patient(
            scope,
            org_id=org.id,
            given_name=given,
            family_name=family,
            birth_date=born,
            home_state=state,
            user_id=user.id,
        )
        for carer in carers:
            # Seeded directly: the demo's organization is set up by no one in it.
            identity.assign_care(
                scope,
                clinician_ids[carer],
                patient.id,
                source=CareSource.COORDINATOR,
                granted_by=None,
            )
    _save(saved, accounts)
    return accounts, True


def _save(path: Path, accounts: list[DemoAccount]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump([asdict(a) for a in accounts], handle, indent=2)


def public_view(accounts: list[DemoAccount]) -> list[dict[str, str]]:
    """The ``demo --json`` shape: email, role, password, and totp_secret for MFA roles."""
    out: list[dict[str, str]] = []
    for a in accounts:
        item = {"email": a.email, "role": a.role, "password": a.password}
        if a.totp_secret:
            item["totp_secret"] = a.totp_secret
        out.append(item)
    return out
