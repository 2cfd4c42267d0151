"""The OpenAI-compatible inference endpoint of deployments: /inference/<zone>/<deployment-id>/v1/...

Answers are deterministic (derived from the prompt) and token counts are word counts. Completions are
paced by the latency model (latency.py) and sent outside the store lock, as one JSON body or, with
"stream": true, as vLLM's server-sent events (README: "Streaming").
"""
import hashlib
import json
import time

from . import engine, latency, queueing

OPENAI_ERROR_TYPES = {400: "BadRequestError", 401: "AuthenticationError", 404: "NotFoundError", 405: "MethodNotAllowed",
                      503: "ServiceUnavailableError"}


class InferenceError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self):
        return {"error": {"message": self.message, "type": OPENAI_ERROR_TYPES.get(self.status, "APIError"), "code": self.status}}


def served_model_name(dep):
    for entry in dep["inference-engine-parameters"]:
        if entry.startswith("--served-model-name"):
            return entry.replace("=", " ", 1).split()[1]
    return dep["model"]["name"]


def _words(text):
    return str(text).split()


def _answer(model, prompt, max_tokens):
    """A deterministic sentence mentioning the model and echoing the prompt; truncated to max_tokens words."""
    words = _words(f"[{model}] You said: {prompt} This is a simulated answer.")
    if max_tokens is not None and max_tokens < len(words):
        return " ".join(words[:max_tokens]), len(words[:max_tokens]), "length"
    return " ".join(words), len(words), "stop"


def _completion_id(prefix, model, prompt):
    return prefix + hashlib.sha256(f"{model}\n{prompt}".encode()).hexdigest()[:24]


def _max_tokens(body):
    value = body.get("max_completion_tokens", body.get("max_tokens"))
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise InferenceError(400, "max_tokens must be a positive integer")
    return value


def check_model(body, name):
    if not isinstance(body, dict):
        raise InferenceError(400, "request body must be a JSON object")
    requested = body.get("model", name)
    if requested != name:
        raise InferenceError(404, f"The model `{requested}` does not exist.")


def list_models(dep, created):
    name = served_model_name(dep)
    return {"object": "list", "data": [{"id": name, "object": "model", "created": int(created), "owned_by": "vllm",
                                        "root": dep["model"]["name"], "parent": None, "max_model_len": _max_model_len(dep)}]}


def _max_model_len(dep):
    report = engine.memory_report(dep["model"]["name"], dep["gpu-type"], dep["gpu-count"], dep["inference-engine-parameters"])
    return report["max_model_len"] or 32768


def _stream_flags(body):
    stream = body.get("stream") is True
    options = body.get("stream_options")
    if options is not None and not stream:
        raise InferenceError(400, "Stream options can only be defined when `stream=True`.")
    if options is not None and not isinstance(options, dict):
        raise InferenceError(400, "stream_options: an object {include_usage, continuous_usage_stats} is required")
    options = options or {}
    include_usage = bool(options.get("include_usage"))
    return stream, include_usage, include_usage and bool(options.get("continuous_usage_stats"))


class Generation:
    """One completion: its answer, then paced and sent by send() once the server has released the store lock."""

    def __init__(self, store, dep, kind, body, prompt, prompt_tokens):
        self.name = served_model_name(dep)
        self.kind = kind  # "chat" or "completion"
        self.text, self.count, self.finish = _answer(self.name, prompt, _max_tokens(body))
        self.tokens = [word if index == 0 else " " + word for index, word in enumerate(self.text.split())]
        self.prompt_tokens = prompt_tokens
        self.id = _completion_id("chatcmpl-" if kind == "chat" else "cmpl-", self.name, prompt)
        self.stream, self.include_usage, self.continuous_usage = _stream_flags(body)
        self.created = int(time.time())
        profile = queueing.profile_for(store, dep)
        self.pacer = queueing.QueuedPacer(store, dep, profile, prompt_tokens) if profile else \
            latency.Pacer(store, dep, prompt_tokens, f"{kind}|{prompt}|{self.count}")
        self.store = store
        self.log_entry = {"deployment": dep["id"], "name": dep["name"], "kind": kind, "stream": self.stream,
                          "queueing": bool(profile), "prompt_tokens": prompt_tokens, "output_tokens": self.count,
                          "arrival": time.time()}
        self.arrived = time.monotonic()

    def usage(self, completion_tokens=None):
        completion_tokens = self.count if completion_tokens is None else completion_tokens
        return {"prompt_tokens": self.prompt_tokens, "total_tokens": self.prompt_tokens + completion_tokens,
                "completion_tokens": completion_tokens}

    def body(self):
        """The non-streaming answer."""
        if self.kind == "chat":
            choice = {"index": 0, "message": {"role": "assistant", "content": self.text}, "logprobs": None, "finish_reason": self.finish}
            kind = "chat.completion"
        else:
            choice = {"index": 0, "text": self.text, "logprobs": None, "finish_reason": self.finish}
            kind = "text_completion"
        usage = self.usage()
        return {"id": self.id, "object": kind, "created": self.created, "model": self.name, "choices": [choice],
                "usage": {"prompt_tokens": usage["prompt_tokens"], "completion_tokens": usage["completion_tokens"],
                          "total_tokens": usage["total_tokens"]}}

    def events(self):
        """[(token index the event waits for, or None for no wait, SSE bytes)] in vLLM's order and shapes."""
        kind = "chat.completion.chunk" if self.kind == "chat" else "text_completion"
        events = []

        def chunk(choices, usage=None, index=None, last_usage=False):
            data = {"id": self.id, "object": kind, "created": self.created, "model": self.name, "choices": choices}
            if self.kind == "completion" and not last_usage:
                data["usage"] = None
            if usage is not None:
                data["usage"] = usage
            events.append((index, b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"))

        if self.kind == "chat":
            first = {"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}
            chunk([first], self.usage(0) if self.continuous_usage else None, index=0)
        for index, token in enumerate(self.tokens):
            last = index == len(self.tokens) - 1
            if self.kind == "chat":
                choice = {"index": 0, "delta": {"content": token}, "logprobs": None, "finish_reason": self.finish if last else None}
            else:
                choice = {"index": 0, "text": token, "logprobs": None, "finish_reason": self.finish if last else None}
            if last or self.kind == "completion":
                choice["stop_reason"] = None
            chunk([choice], self.usage(index + 1) if self.continuous_usage else None, index=index)
        if self.include_usage:
            chunk([], self.usage(), last_usage=True)
        events.append((None, b"data: [DONE]\n\n"))
        return events

    def send(self, handler):
        """Pace and write the answer on a BaseHTTPRequestHandler (status line and headers included)."""
        outcome = "complete"
        slot_at = None
        self.writing_last = False
        try:
            with self.pacer:
                slot_at = time.monotonic()
                if self.stream:
                    self._send_stream(handler)
                else:
                    self._send_body(handler)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True
            outcome = "disconnected"
        finally:
            self._log(outcome, slot_at)

    def _log(self, outcome, slot_at):
        """The request's timings in the per-request log (seconds from its arrival; queueing.py)."""
        end = time.monotonic()
        first = self.pacer.first_due
        entry = dict(self.log_entry, outcome=outcome, e2el_s=end - self.arrived,
                     queue_s=None if slot_at is None else slot_at - self.arrived,
                     ttft_s=None if first is None else first - self.arrived)
        entry["tpot_s"] = (entry["e2el_s"] - entry["ttft_s"]) / (self.count - 1) \
            if entry["ttft_s"] is not None and self.count > 1 else None
        queueing.record(self.store, entry, finished=self.writing_last)

    def _send_body(self, handler):
        for _unused in self.tokens:
            self.pacer.wait(self.pacer.next_due())
        data = json.dumps(self.body()).encode()
        self._finishing()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _send_stream(self, handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream; charset=utf-8")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        pending = []
        due_index = -1
        for index, data in self.events():
            if index is not None and index > due_index:
                due = self.pacer.next_due()
                due_index = index
                if due - time.monotonic() >= self.pacer.MIN_SLEEP_S:
                    _write_chunks(handler, pending)
                    pending = []
                    self.pacer.wait(due)
            pending.append(data)
        pending.append(None)
        self._finishing()
        _write_chunks(handler, pending)

    def _finishing(self):
        if not self.writing_last:
            self.writing_last = True
            queueing.finishing(self.store)


def _write_chunks(handler, pieces):
    """HTTP/1.1 chunked encoding; None ends the body."""
    if not pieces:
        return
    out = bytearray()
    for piece in pieces:
        if piece is None:
            out += b"0\r\n\r\n"
        else:
            out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    handler.wfile.write(bytes(out))
    handler.wfile.flush()


def chat_completion(store, dep, body):
    name = served_model_name(dep)
    check_model(body, name)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InferenceError(400, "messages: a non-empty list of {role, content} is required")
    prompt_words = sum(len(_words(m.get("content", ""))) + 1 for m in messages if isinstance(m, dict))
    last_user = next((m.get("content", "") for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), "")
    return Generation(store, dep, "chat", body, last_user, prompt_words)


def completion(store, dep, body):
    name = served_model_name(dep)
    check_model(body, name)
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        prompt = " ".join(map(str, prompt))
    if not isinstance(prompt, str):
        raise InferenceError(400, "prompt: a string is required")
    return Generation(store, dep, "completion", body, prompt, len(_words(prompt)))


ROUTES = {("GET", "models"): "models", ("POST", "chat/completions"): "chat", ("POST", "completions"): "completion"}


def handle(store, dep, method, route, headers_auth, body):
    """Answer one inference request for `dep` (found by the server): a dict (JSON body) or a Generation to send.

    Raises InferenceError for errors.
    """
    action = ROUTES.get((method, route))
    if action is None:
        raise InferenceError(404, f"no route {method} /v1/{route}")
    token = headers_auth[7:].strip() if (headers_auth or "").startswith("Bearer ") else ""
    if not token or not _token_allowed(store, dep, token):
        raise InferenceError(401, "Unauthorized: a valid 'Authorization: Bearer <api-key>' header is required")
    since = store.ready_since(dep)
    if since is None:
        state = store.deployment_state(dep)[0]
        reason = "it has 0 replicas" if state == "ready" else f"it is {state}"
        raise InferenceError(503, f"deployment {dep['name']} is not serving: {reason}")
    counter = (dep["id"], since)
    store.inference_counts[counter] = store.inference_counts.get(counter, 0) + 1
    if store.inference_counts[counter] <= store.config["inference_warmup"]:
        raise InferenceError(503, "model is warming up, retry shortly")
    if action == "models":
        return list_models(dep, since)
    if action == "chat":
        return chat_completion(store, dep, body)
    return completion(store, dep, body)


def _token_allowed(store, dep, token):
    if dep["visibility"] == "private" and token == dep["api-key"]:
        return True
    keys = store.zones[dep["zone"]]["api_keys"].values()
    return any(key["value"] == token and key["scope"] in ("public", dep["id"]) for key in keys)
