"""A Hugging Face Hub stand-in under /hf: model info and files of the catalogue's repos, with the Hub's
status codes and X-Error-Code headers (as huggingface_hub's hf_raise_for_status reads them).

Routes (README: "Hugging Face Hub stand-in"): GET /hf/api/models/{repo}[/revision/{rev}][?blobs=true],
GET|HEAD /hf/{repo}/resolve/{rev}/{path}, GET /hf/api/whoami-v2. Also the one place that decides how a
model download (POST /v2/ai/model) ends, so the API and the Hub agree.
"""
import hashlib
import json
import re
from datetime import datetime, timezone

from . import catalogue

SHARD_BYTES = 4_990_000_000  # transformers' default max_shard_size="5GB" leaves shards just under 5 GB
GGUF_SHARD_BYTES = 24_000_000_000  # ggml-org splits GGUF files in a few large parts
_MODEL_INFO = re.compile(r"^/hf/api/models/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?/?$")
_RESOLVE = re.compile(r"^/hf/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
_EPOCH = datetime(2025, 3, 12, 9, 30, tzinfo=timezone.utc)


class HubError(Exception):
    def __init__(self, status, message, code=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code

    def headers(self):
        headers = {"X-Error-Message": self.message}
        if self.code:
            headers["X-Error-Code"] = self.code
        return headers


def sha(repo):
    return hashlib.sha1(f"sim/{repo}".encode()).hexdigest()


def _digest(repo, path):
    return hashlib.sha256(f"sim/{repo}/{path}".encode()).hexdigest()


def _json_bytes(value):
    return json.dumps(value, indent=2).encode() + b"\n"


def _small_files(repo):
    """The repo's small (non-LFS) files with their content."""
    known = catalogue.MODELS[repo]
    files = {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.gguf filter=lfs diff=lfs merge=lfs -text\n",
             "README.md": f"---\nlicense: {known.get('license', 'other')}\n---\n# {repo.split('/')[1]}\n".encode()}
    if known.get("format") == "gguf":
        return files
    config = dict(known["config"], transformers_version="4.51.0")
    files["config.json"] = _json_bytes(config)
    text = config.get("text_config", config)
    files["generation_config.json"] = _json_bytes({"bos_token_id": text.get("bos_token_id", 1), "eos_token_id": text.get("eos_token_id", 2),
                                                   "do_sample": True, "temperature": 0.7, "top_p": 0.8})
    files["tokenizer_config.json"] = _json_bytes({"model_max_length": text.get("max_position_embeddings", 32768),
                                                  "tokenizer_class": "PreTrainedTokenizerFast"})
    weights = _weight_files(repo)
    if len(weights) > 1:
        files["model.safetensors.index.json"] = _json_bytes({"metadata": {"total_size": known["size"]},
                                                             "weight_map": {"lm_head.weight": list(weights)[-1]}})
    return files


def _weight_files(repo):
    """{file name: size} of the weights: safetensors shards (or one file), or the GGUF file(s)."""
    known = catalogue.MODELS[repo]
    size = known["size"]
    count = max(1, -(-size // (GGUF_SHARD_BYTES if known.get("format") == "gguf" else SHARD_BYTES)))
    if known.get("format") == "gguf":
        stem = repo.split("/")[1].replace("-GGUF", "").lower() + "-mxfp4"
        names = [f"{stem}.gguf"] if count == 1 else [f"{stem}-{i:05d}-of-{count:05d}.gguf" for i in range(1, count + 1)]
    else:
        names = ["model.safetensors"] if count == 1 else [f"model-{i:05d}-of-{count:05d}.safetensors" for i in range(1, count + 1)]
    sizes = [size // count] * count
    sizes[-1] += size - sum(sizes)
    return dict(zip(names, sizes))


def siblings(repo, blobs=False):
    entries = []
    for name, content in sorted(_small_files(repo).items()):
        entry = {"rfilename": name}
        if blobs:
            entry.update(blobId=hashlib.sha1(content).hexdigest(), size=len(content))
        entries.append(entry)
    for name, size in _weight_files(repo).items():
        entry = {"rfilename": name}
        if blobs:
            entry.update(blobId=_digest(repo, name)[:40], size=size, lfs={"sha256": _digest(repo, name), "size": size, "pointerSize": 135})
        entries.append(entry)
    return entries


def model_info(repo, blobs=False):
    """What GET https://huggingface.co/api/models/{repo} answers (the fields HfApi.model_info reads)."""
    known = catalogue.MODELS[repo]
    author, _unused = repo.split("/")
    gguf = known.get("format") == "gguf"
    config = {"model_type": known["gguf"]["architecture"]} if gguf else \
        {"architectures": known["config"]["architectures"], "model_type": known["config"]["model_type"]}
    stamp = _EPOCH.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    info = {"_id": sha(repo)[:24], "id": repo, "modelId": repo, "author": author, "sha": sha(repo), "lastModified": stamp,
            "createdAt": stamp, "private": False, "disabled": False, "gated": known.get("gated", False),
            "library_name": "gguf" if gguf else "transformers", "pipeline_tag": "text-generation",
            "tags": ["gguf" if gguf else "safetensors", config["model_type"], "text-generation", f"license:{known.get('license', 'other')}"],
            "downloads": 100000 + int(sha(repo)[:4], 16), "likes": 100 + int(sha(repo)[4:7], 16),
            "config": config, "cardData": {"license": known.get("license", "other")}, "spaces": [],
            "siblings": siblings(repo, blobs), "usedStorage": known["size"]}
    if gguf:
        info["gguf"] = dict(known["gguf"])
    else:
        info["safetensors"] = {"parameters": dict(known["parameters"]), "total": sum(known["parameters"].values())}
    return info


def _bearer(headers):
    value = headers.get("Authorization") or ""
    return value[7:].strip() if value.startswith("Bearer ") else ""


def _check_repo(repo, rev, access):
    if repo not in catalogue.MODELS:
        # The Hub answers 401 to anonymous requests so as not to reveal private repos, 404 when authenticated.
        raise HubError(404 if access in ("public", "gated") else 401, "Repository not found", "RepoNotFound")
    if rev not in (None, "main", sha(repo)):
        raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")


def _gated_error(repo, access):
    """The Hub's refusal of a gated repo's files: 401 without a token, 403 with a token that has no access."""
    if access == "none":
        return HubError(401, f"Access to model {repo} is restricted. You must have access to it and be authenticated to access it. "
                             "Please log in.", "GatedRepo")
    return HubError(403, f"Access to model {repo} is restricted and you are not in the authorized list. "
                         f"Visit https://huggingface.co/{repo} to ask for access.", "GatedRepo")


def _check_gated(repo, access):
    if catalogue.MODELS[repo].get("gated") and access != "gated":
        raise _gated_error(repo, access)


def handle(method, raw_path, query, headers):
    """Answer one Hub request: (status, body bytes, headers, content type)."""
    try:
        return _handle(method, raw_path, query, headers)
    except HubError as error:
        return error.status, _json_bytes({"error": error.message}), error.headers(), "application/json; charset=utf-8"


def _handle(method, raw_path, query, headers):
    access = catalogue.hub_token_access(_bearer(headers))
    if access == "invalid":
        raise HubError(401, "Invalid credentials in Authorization header")
    if raw_path == "/hf/api/whoami-v2" and method == "GET":
        if access == "none":
            raise HubError(401, "Invalid credentials in Authorization header")
        user = {"type": "user", "name": "sim-user", "auth": {"type": "access_token", "accessToken": {"displayName": "simulator", "role": "read"}}}
        return 200, _json_bytes(user), {}, "application/json; charset=utf-8"
    match = _MODEL_INFO.match(raw_path)
    if match and method == "GET":
        _check_repo(match["repo"], match["rev"], access)
        blobs = "blobs=true" in query.split("&") or "blobs=True" in query.split("&")
        return 200, _json_bytes(model_info(match["repo"], blobs)), {}, "application/json; charset=utf-8"
    match = _RESOLVE.match(raw_path)
    if match and method in ("GET", "HEAD"):
        return _resolve(match["repo"], match["rev"], match["path"], access)
    raise HubError(404, f"Sorry, we can't find the page you are looking for: {method} {raw_path}")


def _resolve(repo, rev, path, access):
    _check_repo(repo, rev, access)
    _check_gated(repo, access)
    commit = {"X-Repo-Commit": sha(repo)}
    small = _small_files(repo)
    if path in small:
        content = small[path]
        kind = "application/json" if path.endswith(".json") else "text/plain; charset=utf-8"
        return 200, content, dict(commit, ETag=f'"{hashlib.sha1(content).hexdigest()}"'), kind
    weights = _weight_files(repo)
    if path in weights:
        headers = dict(commit, ETag=f'"{_digest(repo, path)}"', **{"X-Linked-Size": str(weights[path]), "X-Linked-ETag": f'"{_digest(repo, path)}"'})
        return 200, b"simulated weights: not served\n", headers, "application/octet-stream"
    raise HubError(404, "Entry not found", "EntryNotFound")


def download_outcome(repo, token, forced=None):
    """How POST /v2/ai/model of repo ends: (state, phase it fails after or None, details).

    forced: "not_found", "gated" or "no_safetensors" (control API) whatever the catalogue says.
    """
    known = catalogue.MODELS.get(repo)
    access = catalogue.hub_token_access(token)
    if access == "invalid":
        return "error", "creating", f"401 Client Error: Unauthorized for {repo}: Invalid credentials in Authorization header (huggingface-token)"
    if known is None or forced == "not_found":
        return "error", "creating", f"repository {repo!r} not found on Hugging Face (RepoNotFound)"
    if forced == "gated" or (known.get("gated") and access != "gated"):
        refusal = _gated_error(repo, "none" if access == "none" else "public")
        return "error", "creating", f"{repo} is a gated repository: {refusal.message} (GatedRepo; a valid huggingface-token is required)"
    if known.get("format") == "gguf" or forced == "no_safetensors":
        return "error", "downloading", f"{repo} has no safetensors weights (only GGUF): unsupported format"
    return "ready", None, ""
