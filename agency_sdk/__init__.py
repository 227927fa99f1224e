"""Bürgertresor agency SDK: PAR, PKCE, private_key_jwt and DPoP behind a few calls.

The client arrives with the consent and OAuth work; this package fixes its name and version now so
agencies can depend on it.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
