"""Background jobs of the monitoring capability (registered with telehealth.jobs)."""
