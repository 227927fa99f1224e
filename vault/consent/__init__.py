"""Consent and OAuth: the catalogue of agencies and services, grants, and (coming) the FAPI 2.0 flow."""
