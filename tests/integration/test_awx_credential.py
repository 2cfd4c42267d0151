"""The AWX custom credential type (extensions/awx/credential_type.yml): render its injectors the way AWX does
and run modules against the simulator with exactly that environment (no other credentials)."""
import re
from pathlib import Path

import pytest
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ansible_collections.inferops.exoscale.plugins.module_utils import settings

REPO_ROOT = Path(__file__).resolve().parents[2]
CREDENTIAL_TYPE = REPO_ROOT / "extensions" / "awx" / "credential_type.yml"
QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
HIDDEN_PASSWORD = "**********"  # what AWX stores in place of secret inputs in a job's safe environment


@pytest.fixture(scope="module")
def credential_type():
    return yaml.safe_load(CREDENTIAL_TYPE.read_text(encoding="utf-8"))


def render_env(credential_type, inputs, safe=False):
    """AWX's custom-credential env injection (awx.main.models.credential / awx_plugins): an immutable sandboxed
    Jinja environment, a namespace of the credential's non-empty inputs (secret ones hidden in the safe
    namespace), and every `injectors.env` template rendered with it."""
    secret = {field["id"] for field in credential_type["inputs"]["fields"] if field.get("secret")}
    namespace = {}
    for name, value in inputs.items():
        if value:
            namespace[name] = HIDDEN_PASSWORD if (safe and name in secret) else value
    sandbox = ImmutableSandboxedEnvironment()
    return {variable: sandbox.from_string(template).render(**namespace)
            for variable, template in credential_type["injectors"]["env"].items()}


def test_credential_type_shape(credential_type):
    fields = {field["id"]: field for field in credential_type["inputs"]["fields"]}
    assert list(fields) == ["api_key", "api_secret", "zone", "api_endpoint"]
    for field in fields.values():
        assert field["type"] == "string" and field["label"] and field["help_text"]
    assert fields["api_secret"].get("secret") is True
    assert not any(fields[name].get("secret") for name in ("api_key", "zone", "api_endpoint"))
    assert credential_type["inputs"]["required"] == ["api_key", "api_secret", "zone"]
    assert credential_type["kind"] == "cloud" and credential_type["name"]
    env = credential_type["injectors"]["env"]
    assert env == {"EXOSCALE_API_KEY": "{{ api_key }}", "EXOSCALE_API_SECRET": "{{ api_secret }}",
                   "EXOSCALE_ZONE": "{{ zone }}", "EXOSCALE_API_ENDPOINT": "{{ api_endpoint }}"}
    for template in env.values():
        assert set(re.findall(r"{{\s*(\w+)\s*}}", template)) <= set(fields)
    assert set(credential_type["injectors"]) == {"env"}, "only environment variables are injected"


def test_secret_is_hidden_in_the_safe_environment(credential_type):
    inputs = dict(api_key="EXOkey", api_secret="s3cret", zone="de-fra-1", api_endpoint="")
    assert render_env(credential_type, inputs, safe=True)["EXOSCALE_API_SECRET"] == HIDDEN_PASSWORD
    assert render_env(credential_type, inputs, safe=True)["EXOSCALE_API_KEY"] == "EXOkey"
    assert render_env(credential_type, inputs)["EXOSCALE_API_SECRET"] == "s3cret"


def test_empty_endpoint_means_the_exoscale_default(credential_type):
    """AWX renders an input left empty as an empty string; the collection must then use the zone's endpoint."""
    env = render_env(credential_type, dict(api_key="EXOkey", api_secret="s3cret", zone="de-fra-1"))
    assert env["EXOSCALE_API_ENDPOINT"] == ""
    # What the modules' argument spec makes of that environment (env_fallback passes the empty string through).
    params = dict(api_key=env["EXOSCALE_API_KEY"], api_secret=env["EXOSCALE_API_SECRET"], zone=env["EXOSCALE_ZONE"],
                  api_url=env["EXOSCALE_API_ENDPOINT"], api_profile=None, api_timeout=30.0, validate_certs=True)
    settings = settings.resolve_settings(params)
    assert settings["api_url"] == "https://api-de-fra-1.exoscale.com/v2"
    assert settings["zone"] == "de-fra-1"


def test_modules_run_with_only_the_injected_environment(credential_type, play_without_credentials, sim):
    env = render_env(credential_type, dict(api_key=sim.key, api_secret=sim.secret, zone="ch-gva-2",
                                           api_endpoint=sim.url))
    assert set(env) == {"EXOSCALE_API_KEY", "EXOSCALE_API_SECRET", "EXOSCALE_ZONE", "EXOSCALE_API_ENDPOINT"}
    run = play_without_credentials([
        {"name": "upload", "inferops.exoscale.ai_model": {"name": QWEN}},
        {"name": "list", "inferops.exoscale.ai_model_info": {"name": QWEN}},
    ], env=env)
    assert run.rc == 0, run.output
    assert run.status("upload") == "changed"
    assert [m["state"] for m in run.result("list")["models"]] == ["ready"]
    assert sim.control.requests(), "the modules should have called the simulator"
    assert sim.secret not in run.output


def test_zone_and_endpoint_placeholder_follow_the_credential(credential_type, play_without_credentials, sim):
    """A credential for another zone, with an endpoint using the {zone} placeholder, works on that zone only."""
    env = render_env(credential_type, dict(api_key=sim.key, api_secret=sim.secret, zone="de-fra-1",
                                           api_endpoint=sim.base + "/{zone}/v2"))
    assert env["EXOSCALE_API_ENDPOINT"].endswith("/{zone}/v2"), "AWX's Jinja must leave the single-brace placeholder alone"
    run = play_without_credentials([{"name": "upload", "inferops.exoscale.ai_model": {"name": QWEN, "wait": False}}],
                                   env=env)
    assert run.rc == 0, run.output
    zones = sim.control.state()["zones"]
    assert [m["name"] for m in zones["de-fra-1"]["models"].values()] == [QWEN]
    assert not zones["ch-gva-2"]["models"]


def test_a_wrong_secret_in_the_credential_fails(credential_type, play_without_credentials, sim):
    env = render_env(credential_type, dict(api_key=sim.key, api_secret="not-the-secret", zone="ch-gva-2",
                                           api_endpoint=sim.url))
    run = play_without_credentials([{"name": "list", "inferops.exoscale.ai_model_info": {}}], env=env)
    assert run.rc != 0
    assert run.status("list") == "failed"
    assert "not-the-secret" not in run.output
