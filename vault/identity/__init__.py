"""Sign-in through upstream identity providers (eID via OIDC or SAML), and the accounts bound to them."""
