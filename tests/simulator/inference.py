"""The OpenAI-compatible inference endpoint of deployments: /inference/<zone>/<deployment-id>/v1/...

Answers are deterministic (derived from the prompt) and token counts are word counts.
"""
import hashlib
import time

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
                                        "root": dep["model"]["name"], "parent": None, "max_model_len": 32768}]}


def chat_completion(dep, body):
    name = served_model_name(dep)
    check_model(body, name)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InferenceError(400, "messages: a non-empty list of {role, content} is required")
    prompt_words = sum(len(_words(m.get("content", ""))) + 1 for m in messages if isinstance(m, dict))
    last_user = next((m.get("content", "") for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), "")
    text, count, finish = _answer(name, last_user, _max_tokens(body))
    return {"id": _completion_id("chatcmpl-", name, last_user), "object": "chat.completion", "created": int(time.time()), "model": name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt_words, "completion_tokens": count, "total_tokens": prompt_words + count}}


def completion(dep, body):
    name = served_model_name(dep)
    check_model(body, name)
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        prompt = " ".join(map(str, prompt))
    if not isinstance(prompt, str):
        raise InferenceError(400, "prompt: a string is required")
    text, count, finish = _answer(name, prompt, _max_tokens(body))
    prompt_words = len(_words(prompt))
    return {"id": _completion_id("cmpl-", name, prompt), "object": "text_completion", "created": int(time.time()), "model": name,
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt_words, "completion_tokens": count, "total_tokens": prompt_words + count}}


ROUTES = {("GET", "models"): "models", ("POST", "chat/completions"): "chat", ("POST", "completions"): "completion"}


def handle(store, dep, method, route, headers_auth, body):
    """Answer one inference request for `dep` (found by the server); raise InferenceError for errors."""
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
        return chat_completion(dep, body)
    return completion(dep, body)


def _token_allowed(store, dep, token):
    if dep["visibility"] == "private" and token == dep["api-key"]:
        return True
    keys = store.zones[dep["zone"]]["api_keys"].values()
    return any(key["value"] == token and key["scope"] in ("public", dep["id"]) for key in keys)
