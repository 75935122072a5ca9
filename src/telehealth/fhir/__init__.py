"""FHIR R4 API over the capabilities' services, access rules and audit (docs/fhir.md)."""
