"""Tables of the monitoring capability."""
