"""The web app's cross-capability pages: dashboards, navigation, hybrid intake, administration."""
