"""Store-and-forward: cases, media, routing, specialist review and reports back."""
