"""HTTP front of the simulator: parsing, zones, signature check, routing, fault injection, request log."""
import fnmatch
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from . import auth, catalogue, hub, inference
from .api import ROUTES, AiApi, check_patch_fields
from .control_api import ControlApi
from .errors import ApiError, problem
from .state import Store, iso
from .validation import SpecValidator, ValidationError

DEFAULT_KEY = "EXOsimulatorkey000000000000"
DEFAULT_SECRET = "simulator-secret"
REQUEST_LOG_LIMIT = 20000
# Methods the HTTP layer knows; any other (TRACE, OPTIONS, BREW, ...) is answered 405 with a problem body.
KNOWN_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
MAX_BODY_BYTES = 10 * 1024 * 1024
# A body must arrive within this many seconds of its headers: a Content-Length larger than what the client
# sends is answered 400 instead of holding the handler thread until the client gives up.
BODY_READ_TIMEOUT = 3.0
_CHUNK_SIZE = re.compile(rb"^([0-9A-Fa-f]+)[ \t]*(?:;.*)?$")
_API_PATH = re.compile(r"^(?:/([^/]+))?/v2(/.*)$")
_INFERENCE_PATH = re.compile(r"^/inference/([^/]+)/([^/]+)/v1/(.+)$")


def _compile_routes():
    compiled = []
    for method, template, handler in ROUTES:
        pattern = re.compile("^" + re.sub(r"\\\{[a-z]+\\\}", "([^/]+)", re.escape(template)) + "$")
        compiled.append((method, template, pattern, handler))
    return compiled


class Response:
    """body: JSON value or raw bytes; stream: an inference.Generation that writes the answer itself (paced)."""

    def __init__(self, status, body=None, headers=None, content_type="application/json", stream=None):
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.content_type = content_type
        self.stream = stream


class FramingError(Exception):
    """The request body cannot be delimited (Content-Length / Transfer-Encoding): 400, then the connection is closed."""

    def __init__(self, status, detail):
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _problem_response(error):
    # The spec declares every error response (problem details included) as application/json.
    return Response(error.status, error.problem(), dict(error.headers))


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog of 5 drops connections when dozens of clients (a benchmark at
    # concurrency 32) connect at once; the kernel then retries them a second later.
    request_queue_size = 128

    def __init__(self, address, store, credentials, url_style="v1"):
        super().__init__(address, SimulatorHandler)
        self.store = store
        self.credentials = dict(credentials)
        host = "127.0.0.1" if address[0] in ("0.0.0.0", "") else address[0]
        self.base_url = f"http://{host}:{self.server_address[1]}"
        self.options = {"base_url": self.base_url, "url_style": url_style}
        self.api = AiApi(store, self.options)
        self.validator = SpecValidator()
        self.control = ControlApi(self)
        self.routes = _compile_routes()

    def handle_error(self, request, client_address):
        # Clients that time out or hang up (fault injection does this on purpose) are not server errors.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    @property
    def url(self):
        return self.base_url + "/v2"

    # ----- API requests -----

    def api_request(self, method, raw_path, query, headers, body):
        match = _API_PATH.match(raw_path)
        if not match:
            raise ApiError(404, f"no such endpoint {raw_path} (the API lives under /v2 or /<zone>/v2)")
        zone, rest = match.group(1) or catalogue.DEFAULT_ZONE, match.group(2)
        if method not in KNOWN_METHODS:
            raise self._method_not_allowed(method, rest)
        if zone not in catalogue.ZONES:
            raise ApiError(404, f"unknown zone {zone!r}")
        try:
            auth.verify(headers.get("Authorization"), method, raw_path, body, query, self.credentials,
                        time.time() + self.store.config["clock_skew"])
        except auth.AuthError as error:
            raise ApiError(403, str(error)) from None
        template, handler, ids = self._route(method, rest)
        params = {name: values[0] for name, values in parse_qs(query).items()}
        self._check_query(method, template, params)
        payload = self._body(method, template, body)
        with self.store.lock:
            return Response(*getattr(self.api, handler)(zone, params, payload, *ids)), zone

    def _method_not_allowed(self, method, path):
        allowed = [route_method for route_method, _template, pattern, _handler in self.routes if pattern.match(path)]
        return ApiError(405, f"method {method} not allowed on {path}, allowed: {', '.join(allowed) or 'none'}",
                        headers={"Allow": ", ".join(allowed)})

    def _check_query(self, method, template, params):
        """Query parameters the operation declares must have their declared type (booleans: true or false)."""
        operation = self.validator.spec["paths"][template][method.lower()]
        for parameter in operation.get("parameters", []):
            value = params.get(parameter["name"])
            if parameter["in"] != "query" or value is None:
                continue
            kind = parameter["schema"].get("type")
            # Any case: the official Python client sends Python's True/False as they print.
            if kind == "boolean" and value.lower() not in ("true", "false"):
                raise ApiError(400, f"{parameter['name']}: must be a boolean (true or false), got {value!r}")
            if kind == "integer" and not (re.fullmatch(r"-?[0-9]+", value) and -2 ** 63 <= int(value) < 2 ** 63):
                raise ApiError(400, f"{parameter['name']}: must be a 64-bit integer, got {value!r}")

    def _route(self, method, path):
        matched = False
        for route_method, template, pattern, handler in self.routes:
            match = pattern.match(path)
            if match and route_method == method:
                return template, handler, match.groups()
            matched = matched or bool(match)
        if matched:
            raise self._method_not_allowed(method, path)
        raise ApiError(404, f"no such endpoint {method} {path}")

    def _body(self, method, template, raw):
        operation = self.validator.spec["paths"][template][method.lower()]
        if "requestBody" not in operation:
            return None
        if not raw.strip():
            raise ApiError(400, "a JSON request body is required")
        try:
            body = json.loads(raw)
        except ValueError as error:
            raise ApiError(400, f"invalid JSON body: {error}") from None
        if method == "PATCH":
            check_patch_fields(body)
        try:
            self.validator.validate_request(method, template, body)
        except ValidationError as error:
            raise ApiError(400, str(error)) from None
        return body

    # ----- inference requests -----

    def inference_request(self, method, raw_path, headers, body):
        match = _INFERENCE_PATH.match(raw_path)
        if not match:
            raise inference.InferenceError(404, f"no such inference endpoint {raw_path}")
        zone, dep_id, route = match.groups()
        if method not in KNOWN_METHODS:
            raise inference.InferenceError(405, f"method {method} not allowed, allowed: GET, POST")
        payload = None
        if method == "POST":
            try:
                payload = json.loads(body or b"null")
            except ValueError:
                raise inference.InferenceError(400, "invalid JSON body") from None
        with self.store.lock:
            dep = self.store.zones.get(zone, {}).get("deployments", {}).get(dep_id)
            if dep is None:
                raise inference.InferenceError(404, f"no deployment {dep_id} in zone {zone}")
            answer = inference.handle(self.store, dep, method, route, headers.get("Authorization"), payload)
        if isinstance(answer, inference.Generation):
            return Response(200, stream=answer), zone
        return Response(200, answer), zone

    # ----- faults and request log -----

    def take_fault(self, method, path):
        with self.store.lock:
            for fault in self.store.faults:
                if fault["method"] in ("*", method) and fnmatch.fnmatchcase(path, fault["path"]):
                    fault["count"] -= 1
                    if fault["count"] <= 0:
                        self.store.faults.remove(fault)
                    return dict(fault)
        return None

    def log_request(self, method, path, query, status, zone, kind):
        entry = {"method": method, "path": path, "query": {name: values[0] for name, values in parse_qs(query).items()},
                 "status": status, "time": iso(time.time(), millis=True), "zone": zone, "kind": kind}
        with self.store.lock:
            self.store.requests.append(entry)
            if len(self.store.requests) > REQUEST_LOG_LIMIT:
                del self.store.requests[:len(self.store.requests) - REQUEST_LOG_LIMIT]


class SimulatorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ExoscaleSimulator/1.0"
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass

    def do_GET(self):  # pylint: disable=invalid-name
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def __getattr__(self, name):
        # http.server answers a method without a do_<METHOD> 501 text/html; route every method through dispatch,
        # which answers the unknown ones 405 with a problem body.
        if name.startswith("do_"):
            return self.dispatch
        raise AttributeError(name)

    def send_error(self, code, message=None, explain=None):
        """http.server's own errors (malformed request line, headers too large, ...) as JSON problem details."""
        body = json.dumps(problem(code, explain or message or "malformed request")).encode()
        self.send_response(code, message)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.close_connection = True  # pylint: disable=attribute-defined-outside-init
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)

    def dispatch(self):
        method = self.command
        raw_path, _unused, query = self.path.partition("?")
        kind = "control" if raw_path.startswith("/_sim/") else "inference" if raw_path.startswith("/inference/") else \
            "hub" if raw_path.startswith("/hf/") else "api"
        try:
            body = self._read_body()
        except FramingError as error:
            self.close_connection = True  # pylint: disable=attribute-defined-outside-init
            if kind != "control":
                self.server.log_request(method, raw_path, query, error.status, self._zone_of(raw_path, kind), kind)
            self._send(self._error_response(kind, error.status, error.detail))
            return
        if kind == "control":
            self._control(method, raw_path, query, body)
            return
        zone = self._zone_of(raw_path, kind)
        fault = self.server.take_fault(method, raw_path)
        if fault and fault["action"] == "drop":
            self.server.log_request(method, raw_path, query, None, zone, kind)
            self.close_connection = True  # pylint: disable=attribute-defined-outside-init
            return
        if fault and fault["action"] == "trickle":
            self.server.log_request(method, raw_path, query, 200, zone, kind)
            self._trickle(fault)
            return
        if fault and fault["action"] in ("status", "raw"):
            response = self._fault_response(fault, kind)
        else:
            if fault and fault["action"] == "delay":
                time.sleep(fault["delay"])
            response = self._process(kind, method, raw_path, query, body)
        self.server.log_request(method, raw_path, query, response.status, zone, kind)
        if fault and fault["action"] == "drop_after":
            self.close_connection = True  # pylint: disable=attribute-defined-outside-init
            return
        self._send(response)

    def _read_body(self):
        """The request body, delimited by Content-Length or chunked Transfer-Encoding, read within BODY_READ_TIMEOUT."""
        encoding = self.headers.get("Transfer-Encoding")
        lengths = self.headers.get_all("Content-Length") or []
        deadline = time.monotonic() + BODY_READ_TIMEOUT
        if encoding is not None:
            if encoding.strip().lower() != "chunked":
                raise FramingError(400, f"Transfer-Encoding {encoding!r} is not supported (only chunked)")
            if lengths:
                raise FramingError(400, "Content-Length and Transfer-Encoding: chunked must not be combined")
            return self._read_chunked(deadline)
        if not lengths:
            return b""
        if len(set(value.strip() for value in lengths)) > 1:
            raise FramingError(400, f"conflicting Content-Length headers: {', '.join(lengths)}")
        value = lengths[0].strip()
        if not re.fullmatch(r"[0-9]+", value):
            raise FramingError(400, f"invalid Content-Length {value!r}: must be a non-negative integer")
        length = int(value)
        if length > MAX_BODY_BYTES:
            raise FramingError(413, f"request body of {length} bytes is larger than the limit of {MAX_BODY_BYTES}")
        return self._read_exactly(length, deadline)

    def _read_exactly(self, length, deadline):
        data = bytearray()
        try:
            while len(data) < length:
                self.connection.settimeout(max(deadline - time.monotonic(), 0.001))
                piece = self.rfile.read1(length - len(data))
                if not piece:
                    break
                data += piece
        except TimeoutError:
            pass
        finally:
            self.connection.settimeout(self.timeout)
        if len(data) < length:
            raise FramingError(400, f"request body shorter than announced: {len(data)} of {length} bytes arrived "
                                    f"within {BODY_READ_TIMEOUT:g} s")
        return bytes(data)

    def _read_line(self, deadline):
        try:
            self.connection.settimeout(max(deadline - time.monotonic(), 0.001))
            line = self.rfile.readline(1024)
        except TimeoutError:
            line = b""
        finally:
            self.connection.settimeout(self.timeout)
        if not line.endswith(b"\r\n"):
            raise FramingError(400, "malformed chunked body: incomplete line")
        return line[:-2]

    def _read_chunked(self, deadline):
        body = bytearray()
        while True:
            match = _CHUNK_SIZE.match(self._read_line(deadline))
            if not match:
                raise FramingError(400, "malformed chunked body: invalid chunk size")
            size = int(match.group(1), 16)
            if size == 0:
                break
            if len(body) + size > MAX_BODY_BYTES:
                raise FramingError(413, f"request body is larger than the limit of {MAX_BODY_BYTES} bytes")
            body += self._read_exactly(size, deadline)
            if self._read_line(deadline) != b"":
                raise FramingError(400, "malformed chunked body: chunk data longer than its size")
        while self._read_line(deadline):  # trailer fields, ignored
            pass
        return bytes(body)

    @staticmethod
    def _error_response(kind, status, detail):
        if kind == "inference":
            return Response(status, inference.InferenceError(status, detail).body())
        return _problem_response(ApiError(status, detail))

    @staticmethod
    def _zone_of(raw_path, kind):
        if kind == "inference":
            parts = raw_path.split("/")
            return parts[2] if len(parts) > 2 else None
        match = _API_PATH.match(raw_path)
        return (match.group(1) or catalogue.DEFAULT_ZONE) if match else None

    def _process(self, kind, method, raw_path, query, body):
        try:
            if kind == "hub":
                status, data, headers, content_type = hub.handle(method, raw_path, query, self.headers)
                return Response(status, data, headers, content_type)
            if kind == "inference":
                return self.server.inference_request(method, raw_path, self.headers, body)[0]
            return self.server.api_request(method, raw_path, query, self.headers, body)[0]
        except ApiError as error:
            return _problem_response(error)
        except inference.InferenceError as error:
            return Response(error.status, error.body(), {"Allow": "GET, POST"} if error.status == 405 else None)

    def _trickle(self, fault):
        """A 200 event stream that only ever sends keep-alive comments, every `delay` s for `duration` s, then hangs up."""
        self.close_connection = True  # pylint: disable=attribute-defined-outside-init
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Connection", "close")
        self.end_headers()
        end = time.monotonic() + fault["duration"]
        try:
            while time.monotonic() < end:
                self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()
                time.sleep(fault["delay"])
        except (BrokenPipeError, ConnectionResetError):
            pass

    @staticmethod
    def _fault_response(fault, kind):
        headers = {"Retry-After": str(fault["retry_after"])} if fault.get("retry_after") is not None else {}
        if fault["action"] == "raw":
            return Response(fault["status"], fault["body"].encode(), headers, content_type=fault["content_type"])
        if fault.get("body") is not None:
            return Response(fault["status"], fault["body"], headers)
        if kind == "inference":
            return Response(fault["status"], inference.InferenceError(fault["status"], "injected fault").body(), headers)
        return Response(fault["status"], problem(fault["status"], "injected fault"), headers)

    def _control(self, method, raw_path, query, body):
        try:
            payload = json.loads(body) if body.strip() else None
            status, result = self.server.control.handle(method, raw_path, {k: v[0] for k, v in parse_qs(query).items()}, payload)
            response = Response(status, result)
        except ApiError as error:
            response = _problem_response(error)
        except ValueError as error:
            response = _problem_response(ApiError(400, f"invalid control request: {error}"))
        self._send(response)

    def _send(self, response):
        if response.stream is not None:
            response.stream.send(self)
            return
        data = response.body if isinstance(response.body, bytes) else b"" if response.body is None else json.dumps(response.body).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class ServerHandle:
    """A simulator running in a background thread (see start_in_thread)."""

    def __init__(self, server, thread, credentials):
        self.server = server
        self.thread = thread
        self.url = server.url
        self.base = server.base_url
        self.store = server.store
        self.key, self.secret = next(iter(credentials.items()))

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def build_server(host="127.0.0.1", port=0, credentials=None, speed=1.0, state_file=None, url_style="v1", clock=time.time):
    store = Store(speed=speed, state_file=state_file, clock=clock)
    return SimulatorServer((host, port), store, credentials or {DEFAULT_KEY: DEFAULT_SECRET}, url_style)


def start_in_thread(**kwargs):
    """Start a simulator on a free port in this process; returns a handle with .url, .base, .key, .secret, .stop()."""
    kwargs.setdefault("port", 0)
    server = build_server(**kwargs)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="exoscale-simulator", daemon=True)
    thread.start()
    return ServerHandle(server, thread, server.credentials)
