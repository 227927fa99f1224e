"""Everything that touches key material. Nothing outside this package reads a key file or key bytes."""
