"""HTTP front of the simulator: parsing, zones, signature check, routing, fault injection, request log."""
import fnmatch
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from . import auth, catalogue, inference
from .api import ROUTES, AiApi, check_patch_fields
from .control_api import ControlApi
from .errors import ApiError, problem
from .state import Store, iso
from .validation import SpecValidator, ValidationError

DEFAULT_KEY = "EXOsimulatorkey000000000000"
DEFAULT_SECRET = "simulator-secret"
REQUEST_LOG_LIMIT = 20000
_API_PATH = re.compile(r"^(?:/([^/]+))?/v2(/.*)$")
_INFERENCE_PATH = re.compile(r"^/inference/([^/]+)/([^/]+)/v1/(.+)$")


def _compile_routes():
    compiled = []
    for method, template, handler in ROUTES:
        pattern = re.compile("^" + re.escape(template).replace(r"\{id\}", "([^/]+)") + "$")
        compiled.append((method, template, pattern, handler))
    return compiled


class Response:
    def __init__(self, status, body=None, headers=None, content_type="application/json"):
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.content_type = content_type


def _problem_response(error):
    headers = dict(error.headers)
    content_type = "application/json" if error.body is not None else "application/problem+json"
    return Response(error.status, error.problem(), headers, content_type)


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

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
        if zone not in catalogue.ZONES:
            raise ApiError(404, f"unknown zone {zone!r}")
        try:
            auth.verify(headers.get("Authorization"), method, raw_path, body, query, self.credentials,
                        time.time() + self.store.config["clock_skew"])
        except auth.AuthError as error:
            raise ApiError(403, str(error)) from None
        template, handler, ids = self._route(method, rest)
        params = {name: values[0] for name, values in parse_qs(query).items()}
        payload = self._body(method, template, body)
        with self.store.lock:
            return Response(*getattr(self.api, handler)(zone, params, payload, *ids)), zone

    def _route(self, method, path):
        allowed = []
        for route_method, template, pattern, handler in self.routes:
            match = pattern.match(path)
            if match:
                if route_method == method:
                    return template, handler, match.groups()
                allowed.append(route_method)
        if allowed:
            raise ApiError(405, f"method {method} not allowed on {path}, allowed: {', '.join(allowed)}", headers={"Allow": ", ".join(allowed)})
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
            return Response(200, inference.handle(self.store, dep, method, route, headers.get("Authorization"), payload)), zone

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

    def dispatch(self):
        method = self.command
        raw_path, _unused, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if raw_path.startswith("/_sim/"):
            self._control(method, raw_path, query, body)
            return
        kind = "inference" if raw_path.startswith("/inference/") else "api"
        zone = self._zone_of(raw_path, kind)
        fault = self.server.take_fault(method, raw_path)
        if fault and fault["action"] == "drop":
            self.server.log_request(method, raw_path, query, None, zone, kind)
            self.close_connection = True  # pylint: disable=attribute-defined-outside-init
            return
        if fault and fault["action"] == "status":
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

    @staticmethod
    def _zone_of(raw_path, kind):
        if kind == "inference":
            parts = raw_path.split("/")
            return parts[2] if len(parts) > 2 else None
        match = _API_PATH.match(raw_path)
        return (match.group(1) or catalogue.DEFAULT_ZONE) if match else None

    def _process(self, kind, method, raw_path, query, body):
        try:
            if kind == "inference":
                return self.server.inference_request(method, raw_path, self.headers, body)[0]
            return self.server.api_request(method, raw_path, query, self.headers, body)[0]
        except ApiError as error:
            return _problem_response(error)
        except inference.InferenceError as error:
            return Response(error.status, error.body())

    @staticmethod
    def _fault_response(fault, kind):
        headers = {"Retry-After": str(fault["retry_after"])} if fault.get("retry_after") is not None else {}
        if fault.get("body") is not None:
            return Response(fault["status"], fault["body"], headers)
        if kind == "inference":
            return Response(fault["status"], inference.InferenceError(fault["status"], "injected fault").body(), headers)
        return Response(fault["status"], problem(fault["status"], "injected fault"), headers, "application/problem+json")

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
        data = b"" if response.body is None else json.dumps(response.body).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(data)))
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
