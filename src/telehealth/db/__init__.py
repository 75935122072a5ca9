"""Persistence plumbing shared by every capability: metadata, engine, unit of work."""
