"""TLS for connectors that talk HTTPS: a configured CA trusted in memory, besides the usual ones.

Reading the CA into an SSL context (instead of writing a combined bundle file) leaves nothing on
disk that a killed process could leave behind.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import certifi


def trust_context(ca_file: Path) -> ssl.SSLContext:
    """An SSL context trusting the usual authorities and the configured CA besides them.

    The usual ones are those requests would use: ``REQUESTS_CA_BUNDLE`` when set, else certifi's.
    """
    usual = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
    context = ssl.create_default_context(cafile=usual)
    context.load_verify_locations(cafile=str(ca_file))
    return context
