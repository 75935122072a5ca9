"""Synchronous visits: scheduling, waiting room, signaling, session record and notes."""
