"""One SoftHSM2 token store for every PKCS#11 test module: the module loads once per process and reads one store."""

from tests.support.softhsm import softhsm

__all__ = ["softhsm"]
