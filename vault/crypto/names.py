"""The settings that name keys, spelled here so crypto's errors name them without importing vault.config.

``tests/unit/crypto/test_names.py`` keeps each equal to what :func:`vault.config.env_name` says.
"""

ROOT_KEY = "VAULT_ROOT_KEY"
ROOT_KEY_FILE = "VAULT_ROOT_KEY_FILE"
LOG_KEY_FILE = "VAULT_LOG_KEY_FILE"
CONSENT_KEY_FILE = "VAULT_CONSENT_KEY_FILE"
