"""The Hugging Face Hub stand-in under /hf, read with the official huggingface_hub client, and its agreement with model creates."""
import json

import httpx
import pytest
from huggingface_hub import HfApi, errors, hf_hub_download

from exoscale_ai_simulator import catalogue, engine, hub

GATED = "meta-llama/Llama-3.1-8B-Instruct"
QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
GOOD_TOKEN = "hf_simulatortoken0123"
NO_ACCESS_TOKEN = "hf_noaccess_0123456789"
SAFETENSORS = sorted(name for name, known in catalogue.MODELS.items() if known.get("format") != "gguf")
KV_KEYS = ("num_hidden_layers", "num_key_value_heads", "num_attention_heads", "hidden_size", "max_position_embeddings")


@pytest.fixture
def hf(server):
    return HfApi(endpoint=server.base + "/hf")


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.base + "/hf", trust_env=False) as client:
        yield client


def test_model_info_through_huggingface_hub(hf):
    info = hf.model_info(QWEN, files_metadata=True)
    assert info.id == QWEN and info.private is False and info.gated is False
    assert info.safetensors.parameters == {"BF16": 494_032_768} and info.safetensors.total == 494_032_768
    assert info.config["architectures"] == ["Qwen2ForCausalLM"]
    sizes = {sibling.rfilename: sibling.size for sibling in info.siblings}
    assert sizes["model.safetensors"] == catalogue.MODELS[QWEN]["size"] and "config.json" in sizes
    weights = [s for s in info.siblings if s.rfilename.endswith(".safetensors")]
    assert weights[0].lfs.size == weights[0].size
    sharded = hf.model_info(GATED, files_metadata=True)
    assert sharded.gated == "manual"
    shards = [s for s in sharded.siblings if s.rfilename.startswith("model-")]
    assert len(shards) == 4 and sum(s.size for s in shards) == catalogue.MODELS[GATED]["size"]
    assert "model.safetensors.index.json" in [s.rfilename for s in sharded.siblings]


def test_gguf_repo_has_gguf_and_no_safetensors(hf):
    info = hf.model_info("ggml-org/gpt-oss-20b-GGUF", files_metadata=True)
    assert info.safetensors is None and info.gguf["architecture"] == "gpt-oss" and info.gguf["context_length"] == 131072
    assert [s.rfilename for s in info.siblings if s.rfilename.endswith(".gguf")] == ["gpt-oss-20b-mxfp4.gguf"]


def test_sizes_only_with_blobs(http):
    plain = http.get(f"/api/models/{QWEN}").json()
    assert all(set(sibling) == {"rfilename"} for sibling in plain["siblings"])
    with_blobs = http.get(f"/api/models/{QWEN}", params={"blobs": "true"}).json()
    assert all("size" in sibling and "blobId" in sibling for sibling in with_blobs["siblings"])
    assert http.get(f"/api/models/{QWEN}/revision/main").json()["sha"] == plain["sha"]


def test_missing_repo_revision_and_file(hf, http, server, tmp_path):
    response = http.get("/api/models/nobody/no-such-model")
    assert response.status_code == 401 and response.headers["X-Error-Code"] == "RepoNotFound"
    assert response.json() == {"error": "Repository not found"}
    with pytest.raises(errors.RepositoryNotFoundError):
        hf.model_info("nobody/no-such-model")
    authenticated = http.get("/api/models/nobody/no-such-model", headers={"Authorization": f"Bearer {GOOD_TOKEN}"})
    assert authenticated.status_code == 404 and authenticated.headers["X-Error-Code"] == "RepoNotFound"
    with pytest.raises(errors.RevisionNotFoundError):
        hf.model_info(QWEN, revision="v9")
    with pytest.raises(errors.EntryNotFoundError):
        hf_hub_download(QWEN, "missing.json", endpoint=server.base + "/hf", cache_dir=str(tmp_path))


def test_gated_files_need_a_token_with_access(server, hf, http, tmp_path):
    assert hf.model_info(GATED).gated == "manual"  # metadata is public, as on the Hub
    anonymous = http.get(f"/{GATED}/resolve/main/config.json")
    assert anonymous.status_code == 401 and anonymous.headers["X-Error-Code"] == "GatedRepo"
    assert "You must have access to it and be authenticated" in anonymous.json()["error"]
    no_access = http.get(f"/{GATED}/resolve/main/config.json", headers={"Authorization": f"Bearer {NO_ACCESS_TOKEN}"})
    assert no_access.status_code == 403 and "not in the authorized list" in no_access.headers["X-Error-Message"]
    cache = str(tmp_path)
    with pytest.raises(errors.GatedRepoError):
        hf_hub_download(GATED, "config.json", endpoint=server.base + "/hf", cache_dir=cache)
    with pytest.raises(errors.GatedRepoError):
        hf_hub_download(GATED, "config.json", token=NO_ACCESS_TOKEN, endpoint=server.base + "/hf", cache_dir=cache)
    path = hf_hub_download(GATED, "config.json", token=GOOD_TOKEN, endpoint=server.base + "/hf", cache_dir=cache)
    with open(path, encoding="utf-8") as handle:
        assert json.load(handle)["num_hidden_layers"] == 32


def test_invalid_token_is_refused_everywhere(http, hf):
    response = http.get(f"/api/models/{QWEN}", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401 and response.headers["X-Error-Message"] == "Invalid credentials in Authorization header"
    assert "X-Error-Code" not in response.headers
    with pytest.raises(errors.HfHubHTTPError):
        hf.model_info(QWEN, token="not-a-token")
    assert hf.whoami(token=GOOD_TOKEN)["name"] == "sim-user"
    assert http.get("/api/whoami-v2").status_code == 401


@pytest.mark.parametrize("repo", SAFETENSORS)
def test_every_catalogue_model_has_a_config_json_for_the_kv_estimate(http, repo):
    response = http.get(f"/{repo}/resolve/main/config.json", headers={"Authorization": f"Bearer {GOOD_TOKEN}"})
    assert response.status_code == 200, response.text
    config = response.json()
    assert config["architectures"] == catalogue.MODELS[repo]["config"]["architectures"]
    if config["architectures"][0] in catalogue.UNSUPPORTED_ARCHITECTURES:
        return
    text = config.get("text_config", config)
    assert all(isinstance(text[key], int) for key in KV_KEYS), text
    assert config.get("torch_dtype", text.get("torch_dtype")) == "bfloat16"
    assert engine.kv_bytes_per_token(config) > 0
    # The weights the Hub lists add up to the model size the API reports.
    listed = http.get(f"/api/models/{repo}", params={"blobs": "true"}).json()["siblings"]
    assert sum(s["size"] for s in listed if s["rfilename"].endswith(".safetensors")) == catalogue.MODELS[repo]["size"]


def test_known_real_config_values(http):
    llama = http.get(f"/{GATED}/resolve/main/config.json", headers={"Authorization": f"Bearer {GOOD_TOKEN}"}).json()
    assert (llama["num_hidden_layers"], llama["num_key_value_heads"], llama["head_dim"], llama["max_position_embeddings"]) == (32, 8, 128, 131072)
    qwen = http.get(f"/{QWEN}/resolve/main/config.json").json()
    assert (qwen["num_hidden_layers"], qwen["num_key_value_heads"], qwen["hidden_size"] // qwen["num_attention_heads"]) == (24, 2, 64)
    assert engine.kv_bytes_per_token(llama) == 2 * 32 * 8 * 128 * 2 == 131072


def test_model_create_agrees_with_the_hub(http):
    """A model create ends in error exactly when the Hub would refuse the download (or has no safetensors)."""
    for repo in sorted(catalogue.MODELS) + ["nobody/no-such-model"]:
        for token in (None, GOOD_TOKEN, NO_ACCESS_TOKEN, "not-a-token"):
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            info = http.get(f"/api/models/{repo}", headers=headers)
            config = http.get(f"/{repo}/resolve/main/config.json", headers=headers)
            hub_ok = info.status_code == 200 and "safetensors" in info.json() and config.status_code == 200
            state, _phase, details = hub.download_outcome(repo, token)
            assert (state == "ready") == hub_ok, (repo, token, info.status_code, config.status_code, details)
            if state == "error" and config.status_code in (401, 403):
                code = config.headers.get("X-Error-Code")
                assert {"GatedRepo": "GatedRepo", "RepoNotFound": "RepoNotFound", None: "Invalid credentials"}[code] in details


def test_model_create_errors_for_each_cause(api):
    cases = {("nobody/no-such-model", None): "creating", (GATED, None): "creating", (GATED, NO_ACCESS_TOKEN): "creating",
             (QWEN, "not-a-token"): "creating", ("ggml-org/gpt-oss-20b-GGUF", None): "downloading", (GATED, GOOD_TOKEN): None}
    for (repo, token), fails_after in cases.items():
        body = {"name": repo, **({"huggingface-token": token} if token else {})}
        operation = api.ok("POST", "/ai/model", body)
        final = api.wait_state("model", operation["reference"]["id"], ("ready", "error"), timeout=20)
        assert final["state"] == ("ready" if fails_after is None else "error"), (repo, token, final)
        assert (final["model-size"] > 0) == (fails_after is None), final
