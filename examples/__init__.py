"""Examples of using Bürgertresor (not part of the installed package)."""
