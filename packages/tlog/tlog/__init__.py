"""Bürgertresor's pure transparency log code: Merkle trees, tiles, signed notes, cosignatures, receipts.

No I/O and no private keys: the vault (which signs) and the agency SDK, ``vault log verify`` and
``vault audit monitor`` (which verify) all import it. :mod:`tlog.client` is the one place that decides
whether a new checkpoint may replace the one a verifier trusts.
"""
