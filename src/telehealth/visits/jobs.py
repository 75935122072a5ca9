"""Background jobs of the visits capability (registered with telehealth.jobs)."""
