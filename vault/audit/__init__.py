"""Auditing the vault: auditor accounts and pages (queries, anomalies), the log monitor, the witness."""
