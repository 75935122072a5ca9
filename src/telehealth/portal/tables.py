"""Tables of the portal capability."""
