"""Background jobs of the review capability (registered with telehealth.jobs)."""
