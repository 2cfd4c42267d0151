# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""EXO2-HMAC-SHA256 request signing for the Exoscale API v2."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import hashlib
import hmac
import time

SIGNATURE_LIFETIME = 600


def signature_message(method, path, body, query, expires):
    """Build the five-line message that is signed.

    ``query`` is a list of ``(name, value)`` pairs as sent. Only names with a
    single value contribute their value, but every name is listed in
    ``signed-query-args`` (as the official client does).
    """
    values = {}
    for name, value in query:
        values.setdefault(name, []).append(value)
    signed_values = "".join(v[0] for _unused, v in sorted(values.items()) if len(v) == 1)
    return b"\n".join([
        ("%s %s" % (method.upper(), path)).encode("utf-8"),
        body or b"",
        signed_values.encode("utf-8"),
        b"",
        str(int(expires)).encode("utf-8"),
    ])


def authorization_header(api_key, api_secret, method, path, body=b"", query=(), expires=None):
    """Return the ``Authorization`` header value for one request."""
    if expires is None:
        expires = int(time.time()) + SIGNATURE_LIFETIME
    query = list(query)
    message = signature_message(method, path, body, query, expires)
    digest = hmac.new(api_secret.encode("utf-8"), message, hashlib.sha256).digest()
    header = "EXO2-HMAC-SHA256 credential=%s" % api_key
    if query:
        header += ",signed-query-args=%s" % ";".join(sorted(set(name for name, _unused in query)))
    header += ",expires=%d,signature=%s" % (int(expires), base64.b64encode(digest).decode("ascii"))
    return header
