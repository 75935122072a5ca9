"""The SMART on FHIR scope grammar (App Launch v2, with v1's ``read``/``write`` understood) that
API tokens carry (pure): what a scope string grants, and which scopes a credential may hold.
The FHIR API (``telehealth.fhir.smart``) decides with them; identity checks them when it
issues a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from telehealth.errors import DomainError, ErrorCode


class Interaction(StrEnum):
    CREATE = "c"
    READ = "r"
    UPDATE = "u"
    DELETE = "d"
    SEARCH = "s"


class Context(StrEnum):
    PATIENT = "patient"
    USER = "user"
    SYSTEM = "system"


_V1 = {"read": "rs", "write": "cud", "*": "cruds"}

# Scopes that grant no resource access but that SMART clients ask for alongside their
# resource scopes; a token may carry them.
NON_RESOURCE_SCOPES = frozenset(
    {
        "openid",
        "fhirUser",
        "profile",
        "launch",
        "launch/patient",
        "launch/encounter",
        "offline_access",
        "online_access",
    }
)

# The FHIR R4 resource types (hl7.org's fhir.schema.json): a scope naming anything else names
# no resource type.
_R4_NAMES = """
    Account ActivityDefinition AdverseEvent AllergyIntolerance Appointment
    AppointmentResponse AuditEvent Basic Binary BiologicallyDerivedProduct BodyStructure
    Bundle CapabilityStatement CarePlan CareTeam CatalogEntry ChargeItem
    ChargeItemDefinition Claim ClaimResponse ClinicalImpression CodeSystem Communication
    CommunicationRequest CompartmentDefinition Composition ConceptMap Condition Consent
    Contract Coverage CoverageEligibilityRequest CoverageEligibilityResponse DetectedIssue
    Device DeviceDefinition DeviceMetric DeviceRequest DeviceUseStatement DiagnosticReport
    DocumentManifest DocumentReference EffectEvidenceSynthesis Encounter Endpoint
    EnrollmentRequest EnrollmentResponse EpisodeOfCare EventDefinition Evidence
    EvidenceVariable ExampleScenario ExplanationOfBenefit FamilyMemberHistory Flag Goal
    GraphDefinition Group GuidanceResponse HealthcareService ImagingStudy Immunization
    ImmunizationEvaluation ImmunizationRecommendation ImplementationGuide InsurancePlan
    Invoice Library Linkage List Location Measure MeasureReport Media Medication
    MedicationAdministration MedicationDispense MedicationKnowledge MedicationRequest
    MedicationStatement MedicinalProduct MedicinalProductAuthorization
    MedicinalProductContraindication MedicinalProductIndication MedicinalProductIngredient
    MedicinalProductInteraction MedicinalProductManufactured MedicinalProductPackaged
    MedicinalProductPharmaceutical MedicinalProductUndesirableEffect MessageDefinition
    MessageHeader MolecularSequence NamingSystem NutritionOrder Observation
    ObservationDefinition OperationDefinition OperationOutcome Organization
    OrganizationAffiliation Parameters Patient PaymentNotice PaymentReconciliation Person
    PlanDefinition Practitioner PractitionerRole Procedure Provenance Questionnaire
    QuestionnaireResponse RelatedPerson RequestGroup ResearchDefinition
    ResearchElementDefinition ResearchStudy ResearchSubject RiskAssessment
    RiskEvidenceSynthesis Schedule SearchParameter ServiceRequest Slot Specimen
    SpecimenDefinition StructureDefinition StructureMap Subscription Substance
    SubstanceNucleicAcid SubstancePolymer SubstanceProtein SubstanceReferenceInformation
    SubstanceSourceMaterial SubstanceSpecification SupplyDelivery SupplyRequest Task
    TerminologyCapabilities TestReport TestScript ValueSet VerificationResult
    VisionPrescription
"""
R4_RESOURCE_TYPES = frozenset(_R4_NAMES.split())


@dataclass(frozen=True, slots=True)
class Grant:
    context: Context
    resource_type: str  # a type, or "*"
    interactions: frozenset[Interaction]

    def covers(self, resource_type: str, interaction: Interaction) -> bool:
        return self.resource_type in ("*", resource_type) and interaction in self.interactions

    @property
    def text(self) -> str:
        """The grant as a SMART v2 scope string (``system/Patient.rs``)."""
        letters = "".join(i.value for i in Interaction if i in self.interactions)
        return f"{self.context.value}/{self.resource_type}.{letters}"

    def within(self, other: Grant) -> Grant | None:
        """What this grant and ``other`` both allow, as one grant; None if nothing."""
        if self.context is not other.context:
            return None
        if other.resource_type == "*":
            resource_type = self.resource_type
        elif self.resource_type in ("*", other.resource_type):
            resource_type = other.resource_type
        else:
            return None
        both = self.interactions & other.interactions
        return Grant(self.context, resource_type, both) if both else None


def parse_scope(text: str) -> Grant | None:
    """One scope string as a grant; None for scopes that grant no resource access
    (``openid``, ``launch``, ``offline_access``...) or are not resource scopes at all."""
    context, slash, rest = text.partition("/")
    if not slash or context not in tuple(Context):
        return None
    resource_type, dot, permissions = rest.partition(".")
    if not dot or not resource_type:
        return None
    permissions = permissions.split("?", 1)[0]  # v2 query constraints are not supported
    letters = _V1.get(permissions, permissions)
    if (
        not letters
        or any(ch not in "cruds" for ch in letters)
        or letters != "".join(ch for ch in "cruds" if ch in letters)
    ):
        return None
    return Grant(Context(context), resource_type, frozenset(Interaction(ch) for ch in letters))


def parse_scopes(text: str) -> tuple[Grant, ...]:
    return tuple(g for g in (parse_scope(s) for s in text.split()) if g is not None)


def checked_scopes(text: str, contexts: frozenset[Context]) -> str:
    """``text`` as the scopes a credential may carry: SMART resource scopes in one of
    ``contexts`` naming an R4 resource type (or ``*``), and the scopes that grant no resource
    access; at least one resource scope. Anything unknown or malformed is refused (422, naming
    the ``scopes`` field); the answer is the scopes, each once, space-separated."""
    items = list(dict.fromkeys(text.split()))
    resource_scopes = [item for item in items if item not in NON_RESOURCE_SCOPES]
    for item in resource_scopes:
        grant = parse_scope(item)
        if (
            grant is None
            or grant.context not in contexts
            or (grant.resource_type != "*" and grant.resource_type not in R4_RESOURCE_TYPES)
        ):
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                f"unknown or malformed scope {item[:80]!r}; allowed: "
                + ", ".join(f"{c.value}/<type>.<cruds>" for c in Context if c in contexts),
                field="scopes",
            )
    if not resource_scopes:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "the scopes name no resource scope", field="scopes"
        )
    return " ".join(items)
