"""The test eID provider: an OpenID Provider (and SAML IdP) standing in for BundID in tests and the demo."""
