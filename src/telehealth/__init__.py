"""telehealth: synchronous, asynchronous and remote-monitoring care that knows the rules."""

__version__ = "0.1.0"
