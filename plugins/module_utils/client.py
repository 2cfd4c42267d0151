# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one Exoscale API v2 client: transport, signing, retries, errors, operations."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import email.utils
import json
import random
import re
import sys
import time
import traceback

from urllib.parse import urlsplit

from ansible_collections.inferops.exoscale.plugins.module_utils.signing import SIGNATURE_LIFETIME, authorization_header
from ansible_collections.inferops.exoscale.plugins.module_utils.waiter import (
    Deadline,
    OPERATION_SCHEDULE,
    WaitTimeout,
    wait_until,
)

try:
    # httpx's __init__ loads its command-line client (rich, click) whenever those are installed: about 0.12 s of CPU
    # in every module run, for code a module never calls. None in sys.modules makes that one import fail, and httpx
    # then defines its stub instead.
    sys.modules.setdefault("httpx._main", None)
    import httpx
    HAS_HTTPX = True
    HTTPX_IMPORT_ERROR = None
except ImportError:
    httpx = None
    HAS_HTTPX = False
    HTTPX_IMPORT_ERROR = traceback.format_exc()

USER_AGENT = "inferops.exoscale-ansible/0.1.0"
# Characters that would change what a path segment addresses ("/", ".." and the rest) or how it is signed and
# sent: the server would see another path than the one signed (403 Invalid request signature) or another resource.
UNSAFE_SEGMENT = re.compile(r"[/?#%\\\s\x00-\x1f\x7f]")
TRANSIENT_STATUSES = (429, 502, 503, 504)
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


class ExoscaleError(Exception):
    """Any failure talking to the API, with what a person needs to act on it.

    ``uncertain`` is set when a write may or may not have taken effect (the
    response was lost): callers must look before they send it again.
    ``in_flight`` is set when the server may still be working on it (no answer
    within the timeout, or a gateway timeout): its effect may show up later.
    """

    def __init__(self, message, status=None, method=None, path=None, api_message=None,
                 operation_id=None, reason=None, body=None, uncertain=False, in_flight=False, retry_after=None):
        super(ExoscaleError, self).__init__(message)
        self.message = message
        self.status = status
        self.method = method
        self.path = path
        self.api_message = api_message
        self.operation_id = operation_id
        self.reason = reason
        self.body = body
        self.uncertain = uncertain
        self.in_flight = in_flight
        self.retry_after = retry_after  # seconds the server asked to wait (Retry-After), if it did

    def details(self):
        """Structured form for module results (never contains secrets)."""
        return dict(
            status=self.status,
            method=self.method,
            path=self.path,
            api_message=self.api_message,
            operation_id=self.operation_id,
            reason=self.reason,
        )


def api_message(response):
    """The API's own words: RFC 9457 ``detail``, then ``message``, ``error``, ``title``, raw text."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    if isinstance(body, dict):
        if isinstance(body.get("error"), dict):  # OpenAI-style {"error": {"message": ...}}
            body = body["error"]
        for key in ("detail", "message", "error", "title"):
            if isinstance(body.get(key), str) and body[key]:
                return body[key]
    return response.text.strip()


def parse_retry_after(value, now=None):
    """Seconds to wait from a ``Retry-After`` header (seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # "-0000" means UTC with unknown local offset
        when = when.replace(tzinfo=datetime.timezone.utc)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


class RetryPolicy:
    """Capped exponential backoff with full jitter; ``Retry-After`` wins when the server sends it."""

    def __init__(self, attempts=6, base=0.5, cap=8.0, max_retry_after=60.0, rand=random.uniform):
        self.attempts = attempts
        self.base = base
        self.cap = cap
        self.max_retry_after = max_retry_after
        self.rand = rand

    def delay(self, attempt, retry_after=None):
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        return self.rand(0, min(self.cap, self.base * (2 ** attempt)))


DEFAULT_RETRY = RetryPolicy()


def _sleep(seconds):
    # time.sleep is looked up at each call, not bound when this module is imported, so that a test process
    # can patch it (tests/property runs the modules in virtual time).
    time.sleep(seconds)


def unsafe_segment(value):
    """Why ``value`` cannot be one segment of an API path, or None when it can."""
    text = str(value)
    if text in ("", ".", ".."):
        return "it is %s" % ("empty" if not text else repr(text))
    found = UNSAFE_SEGMENT.search(text)
    if found:
        char = found.group(0)
        if char == " ":
            return "it contains a space"
        return "it contains %s" % (repr(char) if char.isprintable() else "the control character %r" % char)
    return None


def api_path(template, **segments):
    """``template`` (``/ai/deployment/{id}/logs``) filled with ``segments``, each checked to be one path segment.

    A value that is not (``../x``, ``a/b``, ``x?y``, whitespace...) raises ExoscaleError naming the segment,
    before any request.
    """
    for name, value in segments.items():
        problem = unsafe_segment(value)
        if problem:
            raise ExoscaleError("%s %r cannot go into the API path %s: %s. Ids and names in a URL may not be empty or"
                                " contain /, ?, #, %%, \\, whitespace or control characters."
                                % (name.replace("_", " "), value, template, problem))
    return template.format(**dict((name, str(value)) for name, value in segments.items()))


def check_path(path):
    """Refuse a path whose segments would not reach the server as signed (``..``, ``?``, whitespace...)."""
    for segment in path.split("/")[1:]:
        problem = unsafe_segment(segment)
        if problem:
            raise ExoscaleError("The API path %r cannot be sent: a segment %s. An id or name in it is not a valid"
                                " one (ids and names in a URL may not contain /, ?, #, %%, \\, whitespace or"
                                " control characters)." % (path, problem), path=path)


def _query_pairs(query):
    pairs = []
    for name, value in sorted((query or {}).items()):
        if value is None or value == "":  # an empty value is not signed the same way by every client
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        pairs.append((name, str(value)))
    return pairs


def _clock_hint(response):
    """Explain a 403 that comes from a local clock that is off by minutes."""
    server_date = response.headers.get("date")
    if not server_date:
        return ""
    try:
        server_time = email.utils.parsedate_to_datetime(server_date).replace(tzinfo=datetime.timezone.utc).timestamp()
    except (TypeError, ValueError):
        return ""
    skew = time.time() - server_time
    if abs(skew) < 120:
        return ""
    return (" The local clock is %d s %s the API server's clock: requests are signed with an expiry,"
            " so fix the time (NTP) on the host that runs the module." % (abs(skew), "ahead of" if skew > 0 else "behind"))


class HttpClient:
    """JSON over HTTP with retries and ExoscaleError; subclasses add authentication and hints."""

    checks_paths = False  # whether request() refuses paths whose segments carry unsafe characters

    def __init__(self, base_url, timeout=30.0, validate_certs=True, retry=DEFAULT_RETRY, sleep=_sleep):
        self.base_url = base_url.rstrip("/")
        self.base_path = urlsplit(self.base_url).path
        self.retry = retry
        self.sleep = sleep
        self.timeout = timeout
        self.request_count = 0
        self.last_elapsed = 0.0
        self.last_date = None  # the Date header of the last answer: the server's clock (Resource.find's race rule)
        # Honour proxy settings for remote hosts, but never send loopback traffic
        # (the simulator) through a proxy.
        parts = urlsplit(self.base_url)
        host = parts.hostname or ""
        self.http = httpx.Client(
            timeout=timeout,
            # A plain-http endpoint never does TLS: loading the CA store would only cost time (~60 ms a task).
            verify=validate_certs if parts.scheme == "https" else False,
            trust_env=host not in LOOPBACK_HOSTS and not host.startswith("127."),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )

    def close(self):
        self.http.close()

    def auth_headers(self, method, path, content, query):  # pylint: disable=unused-argument
        return {}

    def hint(self, response):  # pylint: disable=unused-argument
        """Advice appended to an error message for this response."""
        return ""

    def request(self, method, path, query=None, body=None, retry_writes=False, retry_conflict=False, applied=None):
        """Send one request; return its decoded JSON body, or None when empty.

        GET (and writes with ``retry_writes``, which are safe to repeat) are
        retried on connection failures, timeouts, 429 and 502/503/504. Other
        writes are retried only when the server cannot have acted on them
        (connection refused, 429); otherwise an ``uncertain`` ExoscaleError is
        raised so the caller can look before sending again. ``retry_conflict``
        also waits out 409 (another operation in progress).

        ``applied()`` looks before a repeatable write is sent again after an
        attempt whose outcome is uncertain: when it says the write already took
        effect, it is not sent again (a resend would meet the 409 of its own
        operation) and None is returned.
        """
        method = method.upper()
        if self.checks_paths:
            check_path(path)
        repeatable = method == "GET" or retry_writes
        content = json.dumps(body).encode("utf-8") if body is not None else b""
        pairs = _query_pairs(query)
        attempt = 0
        outcome_unknown = False
        while True:
            if outcome_unknown and applied is not None and self._already_applied(applied):
                return None
            headers = {"Content-Type": "application/json"} if body is not None else {}
            headers.update(self.auth_headers(method, self.base_path + path, content, pairs))
            retry_after = None
            try:
                response = self.http.request(method, self.base_url + path, params=pairs or None,
                                             content=content or None, headers=headers)
            except httpx.TransportError as exc:
                never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
                outcome_unknown = outcome_unknown or (not never_sent and method != "GET")
                if attempt + 1 >= self.retry.attempts or not (repeatable or never_sent):
                    uncertain = not (never_sent or method == "GET")
                    raise ExoscaleError(
                        "%s %s failed after %d attempt(s): %s: %s. Is %s reachable?"
                        % (method, path, attempt + 1, type(exc).__name__, exc or "no response", self.base_url),
                        method=method, path=path, uncertain=uncertain,
                        in_flight=uncertain and isinstance(exc, httpx.TimeoutException))
            else:
                self.request_count += 1
                self.last_elapsed = response.elapsed.total_seconds()
                self.last_date = response.headers.get("date")
                status = response.status_code
                if status in TRANSIENT_STATUSES and status != 429 and method != "GET":
                    if not repeatable:
                        raise self._error(method, path, response, uncertain=True)
                    outcome_unknown = True
                # Like the official SDKs, ride out a few server errors while reading (polling).
                retryable = (status in TRANSIENT_STATUSES or (status == 409 and retry_conflict)
                             or (status == 500 and method == "GET"))
                if not retryable or attempt + 1 >= self.retry.attempts:
                    return self._result(method, path, response)
                retry_after = parse_retry_after(response.headers.get("retry-after"))
            self.sleep(self.retry.delay(attempt, retry_after))
            attempt += 1

    @staticmethod
    def _already_applied(applied):
        try:
            return applied()
        except ExoscaleError:  # cannot tell: sending an idempotent write again is safe
            return False

    def _result(self, method, path, response):
        if response.status_code >= 400:
            raise self._error(method, path, response)
        if not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise ExoscaleError("%s %s returned HTTP %d with a body that is not JSON: %s"
                                % (method, path, response.status_code, response.text[:200]),
                                status=response.status_code, method=method, path=path)

    def _error(self, method, path, response, uncertain=False):
        message = api_message(response)
        try:
            body = response.json()
        except ValueError:
            body = None
        text = "%s %s: HTTP %d: %s" % (method, path, response.status_code, message)
        if not text.endswith((".", "!", "?")):
            text += "."
        text += self.hint(response)
        if uncertain:
            text += " The request may or may not have taken effect."
        return ExoscaleError(text, status=response.status_code, method=method, path=path,
                             api_message=message, body=body, uncertain=uncertain,
                             in_flight=uncertain and response.status_code == 504,
                             retry_after=parse_retry_after(response.headers.get("retry-after")))

    def get(self, path, query=None):
        return self.request("GET", path, query=query)


class ExoscaleClient(HttpClient):
    """Signed requests against one Exoscale API endpoint (one zone), and its operations."""

    checks_paths = True

    def __init__(self, api_key, api_secret, base_url, **kwargs):
        super(ExoscaleClient, self).__init__(base_url, **kwargs)
        self.api_key = api_key
        self._api_secret = api_secret

    def auth_headers(self, method, path, content, query):
        return {"Authorization": authorization_header(self.api_key, self._api_secret, method, path, content, query)}

    def hint(self, response):
        if response.status_code != 403:
            return ""
        if not _clock_hint(response) and "expire" in api_message(response).lower():
            # The server's Date header may not show the offset (a proxy rewrote it, or it is not sent).
            return (" The API says the request signature expired: requests are signed to expire %d s after the"
                    " local time, so the local clock is probably behind the API server's clock by more than that;"
                    " fix the time (NTP) on the host that runs the module." % SIGNATURE_LIFETIME)
        return _clock_hint(response) or (
            " Check api_key and api_secret (or the EXOSCALE_API_KEY/EXOSCALE_API_SECRET"
            " environment variables or profile) and that the key may use the AI API.")

    def operation(self, method, path, body=None, deadline=None, retry_writes=False, retry_conflict=False):
        """Send a mutation and wait for its operation to succeed; return the final operation.

        A PATCH or scale whose outcome was uncertain is not sent again once the
        resource shows every field of its body: None is returned then (the
        caller waits for the resource, not for an operation it never saw).
        """
        applied = None
        if retry_writes and body and (method.upper() == "PATCH" or path.endswith("/scale")):
            resource_path = path[:-len("/scale")] if path.endswith("/scale") else path

            def applied():
                return self.resource_shows(resource_path, body)
        operation = self.request(method, path, body=body, retry_writes=retry_writes, retry_conflict=retry_conflict,
                                 applied=applied)
        if not operation:
            return None
        return self.wait_operation(operation, deadline or Deadline(None))

    def resource_shows(self, path, body):
        """Whether the resource at ``path`` has every field of ``body`` already (a write took effect)."""
        resource = self.get(path) or {}
        return all(resource.get(key) == value for key, value in body.items())

    def wait_operation(self, operation, deadline):
        """Poll ``/operation/{id}`` until it leaves ``pending``; raise unless it succeeded."""
        if operation.get("state") == "pending":
            try:
                operation, dummy = wait_until(
                    lambda: self.get(api_path("/operation/{operation_id}", operation_id=operation["id"])),
                    lambda op: op.get("state") != "pending",
                    deadline, OPERATION_SCHEDULE, sleep=self.sleep, current=operation,
                    describe=lambda op: "operation %s" % op.get("id"))
            except WaitTimeout as exc:
                raise ExoscaleError("%s; the operation is still pending. Raise wait_timeout, or run the task again"
                                    " later: it looks the resource up before it changes anything." % exc,
                                    operation_id=operation.get("id"))
        if operation.get("state") != "success":
            raise ExoscaleError(
                "Operation %s ended in state %s (reason: %s): %s. Nothing was changed by it: fix the cause,"
                " then run the task again."
                % (operation.get("id"), operation.get("state"), operation.get("reason") or "none",
                   (operation.get("message") or "no message").rstrip(".")),
                operation_id=operation.get("id"), reason=operation.get("reason"),
                api_message=operation.get("message"))
        return operation
