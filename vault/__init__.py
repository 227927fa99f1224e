"""Bürgertresor: a citizen data vault with consent management and a verifiable transparency log."""

__version__ = "0.1.0"
