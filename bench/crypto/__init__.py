"""Crypto benchmark: our AEAD, chunked documents, key wrapping, Argon2id (``python -m bench.crypto``)."""
