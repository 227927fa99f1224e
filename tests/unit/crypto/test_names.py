from vault.config import env_name
from vault.crypto import names, pkcs11


def test_the_setting_names_crypto_spells_are_the_settings() -> None:
    assert env_name("root_key") == names.ROOT_KEY
    assert env_name("root_key_file") == names.ROOT_KEY_FILE
    assert env_name("log_key_file") == names.LOG_KEY_FILE
    assert env_name("consent_key_file") == names.CONSENT_KEY_FILE
    assert env_name("root_key_pkcs11") == pkcs11.SETTING
    assert env_name("log_key_pkcs11") == pkcs11.LOG_KEY_SETTING
    assert env_name("pkcs11_pin_file") == pkcs11.PIN_SETTING
