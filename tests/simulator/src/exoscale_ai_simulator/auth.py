"""EXO2-HMAC-SHA256 request signatures: building the signed message and checking a request.

This is the simulator's own implementation, written from docs/api-facts.md; it never imports the
collection's plugins so that a bug there cannot hide behind the same bug here.
"""
import base64
import hashlib
import hmac
import re
from urllib.parse import parse_qs

SCHEME = "EXO2-HMAC-SHA256"
_PAIR = re.compile(r"^([a-z-]+)=(.*)$")


class AuthError(Exception):
    """The request is not (correctly) signed: the server answers 403 with this message."""


def query_names_and_values(query):
    """Return (sorted parameter names, concatenated single values) the way signers compute them."""
    params = parse_qs(query or "")
    names = sorted(params)
    values = "".join(params[name][0] for name in names if len(params[name]) == 1)
    return names, values


def string_to_sign(method, path, body, query, expires):
    _unused, values = query_names_and_values(query)
    return b"\n".join([
        f"{method.upper()} {path}".encode(),
        body or b"",
        values.encode(),
        b"",
        str(expires).encode(),
    ])


def signature(secret, message):
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.standard_b64encode(digest).decode()


def authorization_header(key, secret, method, path, body=b"", query="", expires=0):
    """A complete Authorization header value (used by tests and the benchmark)."""
    names, _unused = query_names_and_values(query)
    header = f"{SCHEME} credential={key}"
    if names:
        header += ",signed-query-args=" + ";".join(names)
    header += f",expires={expires},signature=" + signature(secret, string_to_sign(method, path, body, query, expires))
    return header


def parse_authorization(value):
    """Split the header into its fields; raise AuthError when it is not an EXO2 header."""
    if not value:
        raise AuthError("missing Authorization header (expected EXO2-HMAC-SHA256 signature)")
    scheme, _unused, rest = value.strip().partition(" ")
    if scheme != SCHEME:
        raise AuthError(f"unsupported authorization scheme {scheme!r} (expected {SCHEME})")
    fields = {}
    for part in rest.split(","):
        match = _PAIR.match(part.strip())
        if not match:
            raise AuthError(f"malformed Authorization header field {part.strip()!r}")
        fields[match.group(1)] = match.group(2)
    for required in ("credential", "expires", "signature"):
        if not fields.get(required):
            raise AuthError(f"malformed Authorization header: missing {required}")
    if not fields["expires"].isdigit():
        raise AuthError("malformed Authorization header: expires must be a UNIX timestamp")
    return fields


def verify(header, method, path, body, query, secrets, now):
    """Check a request's signature. `secrets` maps API keys to secrets; returns the key used."""
    fields = parse_authorization(header)
    key = fields["credential"]
    if key not in secrets:
        raise AuthError(f"unknown API key {key!r}")
    names, _unused = query_names_and_values(query)
    # Compared as the official signer (requests-exoscale-auth) writes them: parse_qs names, so an empty name
    # (`?=x`) is listed as an empty entry of signed-query-args.
    signed_names = fields["signed-query-args"].split(";") if "signed-query-args" in fields else []
    if signed_names != names:
        raise AuthError(f"signed-query-args {';'.join(signed_names)!r} does not match the query parameters {';'.join(names)!r}")
    expires = int(fields["expires"])
    if expires < now:
        raise AuthError(f"request signature expired at {expires} (server time {int(now)})")
    expected = signature(secrets[key], string_to_sign(method, path, body, query, expires))
    if not hmac.compare_digest(expected, fields["signature"]):
        raise AuthError("Invalid request signature")
    return key
