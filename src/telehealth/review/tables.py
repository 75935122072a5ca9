"""Tables of the review capability."""
