"""Auditing the vault from outside: the log monitor (and, to come, auditor views and witnesses)."""
