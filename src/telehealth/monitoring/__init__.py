"""Remote patient monitoring: devices, readings, thresholds, alerts, time and billing periods."""
