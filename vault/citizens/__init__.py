"""Citizen accounts, attributes and documents."""
