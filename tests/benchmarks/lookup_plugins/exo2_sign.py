# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark-only lookup: an EXO2-HMAC-SHA256 Authorization header, signed here with the stdlib (not the collection's code)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: exo2_sign
short_description: EXO2-HMAC-SHA256 Authorization header for ansible.builtin.uri (benchmark baseline only)
description:
  - Signs one request for the Exoscale API v2 with its own stdlib hmac code, so the ansible.builtin.uri baseline
    of tests/benchmarks/run.py sends requests signed exactly like the collection's modules.
  - Terms are the method and the full path (with the /v2 prefix); the query string is the option O(query).
  - Key and secret come from E(EXOSCALE_API_KEY) and E(EXOSCALE_API_SECRET).
options:
  _terms:
    description: Method and path, for example V(GET) and V(/v2/ai/model).
    required: true
  query:
    description: The query string as sent, for example V(visibility=private).
    default: ""
  body:
    description: The request body as sent (JSON text).
    default: ""
  lifetime:
    description: Seconds until the signature expires.
    default: 600
'''

import base64
import hashlib
import hmac
import os
import time
from urllib.parse import parse_qsl

from ansible.plugins.lookup import LookupBase


def sign(key, secret, method, path, query="", body="", expires=None):
    pairs = parse_qsl(query or "", keep_blank_values=True)
    values = {}
    for name, value in pairs:
        values.setdefault(name, []).append(value)
    names = sorted(values)
    message = "\n".join(["%s %s" % (method.upper(), path), body or "",
                         "".join(values[n][0] for n in names if len(values[n]) == 1), "", str(int(expires))])
    digest = hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    header = "EXO2-HMAC-SHA256 credential=%s" % key
    if names:
        header += ",signed-query-args=%s" % ";".join(names)
    return header + ",expires=%d,signature=%s" % (int(expires), base64.b64encode(digest).decode("ascii"))


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        method, path = terms[0], terms[1]
        expires = int(time.time()) + int(kwargs.get("lifetime", 600))
        return [sign(os.environ["EXOSCALE_API_KEY"], os.environ["EXOSCALE_API_SECRET"], method, path,
                     kwargs.get("query", ""), kwargs.get("body", ""), expires)]
