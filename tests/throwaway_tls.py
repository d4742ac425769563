"""A throwaway certificate authority for tests of HTTPS on 127.0.0.1 (trustme)."""

from __future__ import annotations

import ssl

import trustme


def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for 127.0.0.1, and a client context that trusts it."""
    authority = trustme.CA()
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(served)
    trusted = ssl.create_default_context()
    authority.configure_trust(trusted)
    return served, trusted
