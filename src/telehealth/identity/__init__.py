"""Users, organizations, roles, clinician credentials, passwords, MFA, sessions and tokens."""
