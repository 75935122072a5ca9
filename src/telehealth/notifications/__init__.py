"""In-app notifications, and email when SMTP is configured. Sent only after commit."""
