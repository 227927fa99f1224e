"""Bürgeramt Musterstadt — Ummeldung: an example agency app built on ``agency_sdk``.

``make demo`` runs it beside the vault's demo; ``python -m examples.agency_app --help`` says how to
point it at another vault and agency.
"""
