"""Tables of the visits capability."""
