"""Append-only, hash-chained audit log of PHI access, authentication and privilege changes."""
