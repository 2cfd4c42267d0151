"""The AWX custom credential type (extensions/awx/credential_type.yml): render its injectors the way AWX does
and run modules against the simulator with exactly that environment (no other credentials)."""
import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
import yaml
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from ansible_collections.inferops.exoscale.plugins.module_utils import settings

REPO_ROOT = Path(__file__).resolve().parents[2]
CREDENTIAL_TYPE = REPO_ROOT / "extensions" / "awx" / "credential_type.yml"
AWX_IMPORT = REPO_ROOT / "extensions" / "awx" / "credential_type.awx-import.json"
QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
HIDDEN_PASSWORD = "**********"  # what AWX stores in place of secret inputs in a job's safe environment


@pytest.fixture(scope="module")
def credential_type():
    return yaml.safe_load(CREDENTIAL_TYPE.read_text(encoding="utf-8"))


def hub(sim):
    """Not injected by the credential: the test harness's pointer to the simulator's Hugging Face Hub stand-in."""
    return {"HF_ENDPOINT": sim.base + "/hf"}


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


# AWX's rules for a custom credential type (awx.main.fields.CredentialTypeInputField / CredentialTypeInjectorField,
# awx.main.constants.ENV_BLOCKLIST), restated so that the shipped files are checked without an AWX server.
VARIABLE_NAME = "^[a-zA-Z_]+[a-zA-Z0-9_]*$"
AWX_INPUTS_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "required": {"type": "array", "items": {"type": "string"}},
        "fields": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["id", "label"],
            "properties": {
                "id": {"type": "string", "pattern": VARIABLE_NAME}, "label": {"type": "string"},
                "type": {"enum": ["string", "boolean"]}, "format": {"enum": ["ssh_private_key", "url"]},
                "choices": {"type": "array", "minItems": 1, "items": {"type": "string"}, "uniqueItems": True},
                "help_text": {"type": "string"}, "multiline": {"type": "boolean"}, "secret": {"type": "boolean"},
                "ask_at_runtime": {"type": "boolean"}, "default": {}}}}}}
AWX_INJECTORS_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "file": {"type": "object", "additionalProperties": False,
                 "patternProperties": {r"^template(\.[a-zA-Z_]+[a-zA-Z0-9_]*)?$": {"type": "string"}}},
        # pexpect, which runs the job, takes ASCII environment values only
        "env": {"type": "object", "additionalProperties": False,
                "patternProperties": {VARIABLE_NAME: {"type": "string", "pattern": "^[\x00-\x7F]*$"}}},
        "extra_vars": {"type": "object", "additionalProperties": False,
                       "patternProperties": {VARIABLE_NAME: {"type": "string"}}}}}
AWX_ENV_BLOCKLIST = frozenset((
    "VIRTUAL_ENV", "PATH", "PYTHONPATH", "JOB_ID", "INVENTORY_ID", "INVENTORY_SOURCE_ID", "INVENTORY_UPDATE_ID",
    "AD_HOC_COMMAND_ID", "REST_API_URL", "REST_API_TOKEN", "MAX_EVENT_RES", "CALLBACK_QUEUE", "CALLBACK_CONNECTION",
    "CACHE", "JOB_CALLBACK_DEBUG", "INVENTORY_HOSTVARS", "AWX_HOST", "PROJECT_REVISION", "SUPERVISOR_CONFIG_PATH"))
AWX_CUSTOM_KINDS = ("cloud", "net")  # the kinds AWX accepts for a credential type it does not manage itself


def awx_problems(credential_type):
    """What AWX's API would refuse in a custom credential type, one message per problem ([] when it is valid)."""
    problems = []
    if not credential_type.get("name"):
        problems.append("name: required")
    if credential_type.get("kind") not in AWX_CUSTOM_KINDS:
        problems.append("kind: %r is not one of %s" % (credential_type.get("kind"), ", ".join(AWX_CUSTOM_KINDS)))
    inputs, injectors = credential_type.get("inputs", {}), credential_type.get("injectors", {})
    for part, schema, value in (("inputs", AWX_INPUTS_SCHEMA, inputs), ("injectors", AWX_INJECTORS_SCHEMA, injectors)):
        problems.extend("%s: %s" % (part, error.message) for error in jsonschema.Draft4Validator(schema).iter_errors(value))
    if problems:
        return problems
    fields = inputs.get("fields", [])
    ids = [field["id"] for field in fields]
    problems.extend("inputs: field id %r is not unique" % name for name in sorted(set(ids)) if ids.count(name) > 1)
    problems.extend('inputs: "tower" is a reserved field id' for name in ids if name == "tower")
    problems.extend("inputs.required: %r is not a field" % name for name in inputs.get("required", []) if name not in ids)
    for field in fields:
        field_type = field.get("type", "string")
        if "default" in field and not isinstance(field["default"], {"string": str, "boolean": bool}[field_type]):
            problems.append("inputs: default of %r is not a %s" % (field["id"], field_type))
        problems.extend("inputs: %s not allowed for %s field %r" % (key, field_type, field["id"])
                        for key in ("choices", "multiline", "format", "secret") if key in field and field_type != "string")
    for variable in injectors.get("env", {}):
        if variable.startswith("ANSIBLE_") or variable in AWX_ENV_BLOCKLIST:
            problems.append("injectors.env: %s is not allowed in a credential" % variable)
    # AWX renders every injector template with each field set to a placeholder and fails on any other name.
    namespace = dict.fromkeys(ids, "EXAMPLE")
    namespace["tower"] = {"filename": "EXAMPLE_FILENAME"}
    sandbox = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    for section, templates in injectors.items():
        for key, template in templates.items():
            try:
                sandbox.from_string(template).render(namespace)
            except (UndefinedError, SecurityError, TemplateSyntaxError) as error:
                problems.append("injectors.%s.%s: %s" % (section, key, error))
    return problems


def api_object(credential_type):
    """The body of ``POST /api/v2/credential_types/`` (what the awx.awx.credential_type module sends too)."""
    return {key: credential_type[key] for key in ("name", "description", "kind", "inputs", "injectors")}


def test_shipped_credential_type_follows_awx_rules(credential_type):
    assert awx_problems(api_object(credential_type)) == []
    assert set(credential_type) == {"name", "description", "kind", "inputs", "injectors"}, "only API fields"


@pytest.mark.parametrize("change, expected", [
    (lambda t: t["injectors"]["env"].update(EXOSCALE_ZONE="{{ region }}"), "injectors.env.EXOSCALE_ZONE: 'region' is undefined"),
    (lambda t: t["injectors"]["env"].update(ANSIBLE_CONFIG="{{ zone }}"), "ANSIBLE_CONFIG is not allowed"),
    (lambda t: t["injectors"]["env"].update(PATH="{{ zone }}"), "PATH is not allowed"),
    (lambda t: t["injectors"]["env"].update({"EXOSCALE-ZONE": "{{ zone }}"}), "'EXOSCALE-ZONE' does not match"),
    (lambda t: t["injectors"].update(files={}), "injectors: Additional properties"),
    (lambda t: t["inputs"]["fields"][0].update(type="password"), "inputs: 'password' is not one of"),
    (lambda t: t["inputs"]["fields"][0].update(secret="yes"), "inputs: 'yes' is not of type 'boolean'"),
    (lambda t: t["inputs"]["fields"][0].update(type="boolean", secret=True), "secret not allowed for boolean field"),
    (lambda t: t["inputs"]["fields"][2].update(default=2), "default of 'zone' is not a string"),
    (lambda t: t["inputs"]["fields"].append(dict(t["inputs"]["fields"][0])), "field id 'api_key' is not unique"),
    (lambda t: t["inputs"]["required"].append("region"), "inputs.required: 'region' is not a field"),
    (lambda t: t.update(kind="ssh"), "kind: 'ssh' is not one of cloud, net"),
])
def test_awx_rules_refuse_what_awx_refuses(credential_type, change, expected):
    broken = json.loads(json.dumps(api_object(credential_type)))
    change(broken)
    assert any(expected in problem for problem in awx_problems(broken)), awx_problems(broken)


def test_awx_import_form_is_the_api_object_with_awxkit_natural_keys(credential_type):
    """``awx import < credential_type.awx-import.json`` (awxkit): the asset list of an ``awx export``, where every
    asset carries the natural key awxkit looks it up by (CredentialType.NATURAL_KEY, plus the type)."""
    from awxkit.api.pages.api import EXPORTABLE_RESOURCES  # pylint: disable=import-outside-toplevel
    from awxkit.api.pages.credentials import CredentialType  # pylint: disable=import-outside-toplevel

    document = json.loads(AWX_IMPORT.read_text(encoding="utf-8"))
    assert set(document) == {"credential_types"} and "credential_types" in EXPORTABLE_RESOURCES
    [asset] = document["credential_types"]
    natural_key = asset.pop("natural_key")
    assert asset == api_object(credential_type), "the awx import form drifted from credential_type.yml"
    assert natural_key == dict({key: credential_type[key] for key in CredentialType.NATURAL_KEY}, type="credential_type")
    assert awx_problems(asset) == []


class FakeAwx(ThreadingHTTPServer):
    """Just enough of AWX's REST API for ``awx import`` of credential types: discovery, OPTIONS, list by natural key,
    create and update, with AWX's validation (``awx_problems``) on every write and a bearer token required."""

    TOKEN = "awx-test-token"
    CREDENTIAL_TYPE_POST_FIELDS = {"name": {"type": "string", "required": True}, "description": {"type": "string"},
                                   "kind": {"type": "choice", "required": True}, "inputs": {"type": "json"},
                                   "injectors": {"type": "json"}}

    def __init__(self):
        super().__init__(("127.0.0.1", 0), FakeAwxHandler)
        self.credential_types = {}
        self.writes = []

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]


class FakeAwxHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass

    def reply(self, status, body, allow=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if allow:
            self.send_header("Allow", allow)
        self.end_headers()
        self.wfile.write(data)

    def route(self):
        from awxkit.api.pages.api import EXPORTABLE_RESOURCES  # pylint: disable=import-outside-toplevel

        url = urlsplit(self.path)
        if url.path == "/api/":
            return None, {"available_versions": {"v2": "/api/v2/"}, "current_version": "/api/v2/"}
        if url.path == "/api/v2/":
            # awx import orders its work by awxkit's page dependencies, which include system job templates
            root = {resource: "/api/v2/%s/" % resource for resource in EXPORTABLE_RESOURCES + ["system_job_templates"]}
            return None, dict(root, inventory="/api/v2/inventories/")
        parts = url.path.strip("/").split("/")[2:]
        return parts, parse_qs(url.query)

    def do_GET(self):  # pylint: disable=invalid-name
        parts, body = self.route()
        if parts is None:
            return self.reply(200, body)
        items = list(self.server.credential_types.values()) if parts[0] == "credential_types" else []
        if len(parts) == 2:
            found = [item for item in items if str(item["id"]) == parts[1]]
            return self.reply(200, found[0]) if found else self.reply(404, {"detail": "Not found."})
        matching = [item for item in items if all(str(item.get(key)) == values[0] for key, values in body.items()
                                                  if key not in ("page", "page_size"))]
        return self.reply(200, {"count": len(matching), "next": None, "previous": None, "results": matching})

    def do_OPTIONS(self):  # pylint: disable=invalid-name
        parts = self.route()[0]
        fields = FakeAwx.CREDENTIAL_TYPE_POST_FIELDS if parts and parts[0] == "credential_types" else {}
        self.reply(200, {"actions": {"POST": fields}, "description": ""}, allow="GET, POST, HEAD, OPTIONS")

    def write(self, existing_id=None):
        parts = self.route()[0]
        if self.headers.get("Authorization") != "Bearer %s" % FakeAwx.TOKEN:
            return self.reply(401, {"detail": "Authentication credentials were not provided."})
        if not parts or parts[0] != "credential_types":
            return self.reply(405, {"detail": "not supported by this fake"})
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.writes.append((self.command, body))
        problems = awx_problems(body)
        if problems:
            return self.reply(400, {"__all__": problems})
        item_id = existing_id or len(self.server.credential_types) + 1
        item = dict(body, id=item_id, type="credential_type", url="/api/v2/credential_types/%d/" % item_id,
                    related={}, summary_fields={}, managed=False)
        self.server.credential_types[item_id] = item
        return self.reply(200 if existing_id else 201, item)

    def do_POST(self):  # pylint: disable=invalid-name
        self.write()

    def do_PUT(self):  # pylint: disable=invalid-name
        parts = self.route()[0]
        self.write(existing_id=int(parts[1]))


@pytest.fixture
def fake_awx():
    server = FakeAwx()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def awx_cli(fake_awx, document, tmp_path):
    """``awx import`` (awxkit's CLI) of ``document`` into the fake AWX."""
    source = tmp_path / "import.json"
    source.write_text(json.dumps(document))
    with source.open() as stdin:
        return subprocess.run([str(Path(sys.executable).parent / "awx"), "--conf.host", fake_awx.url,
                               "--conf.token", FakeAwx.TOKEN, "import"], stdin=stdin, capture_output=True, text=True,
                              timeout=120, check=False, env=dict(os.environ, NO_PROXY="127.0.0.1", no_proxy="127.0.0.1"))


def test_awx_import_creates_the_credential_type_then_updates_it(fake_awx, tmp_path):
    document = json.loads(AWX_IMPORT.read_text(encoding="utf-8"))
    first = awx_cli(fake_awx, document, tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    [created] = fake_awx.credential_types.values()
    expected = {key: value for key, value in document["credential_types"][0].items() if key != "natural_key"}
    assert {key: created[key] for key in expected} == expected
    second = awx_cli(fake_awx, document, tmp_path)  # found by its natural key: updated in place, not duplicated
    assert second.returncode == 0, second.stdout + second.stderr
    assert len(fake_awx.credential_types) == 1
    assert [write[0] for write in fake_awx.writes] == ["POST", "PUT"]


def test_awx_import_reports_what_awx_refuses(fake_awx, tmp_path):
    document = json.loads(AWX_IMPORT.read_text(encoding="utf-8"))
    document["credential_types"][0]["injectors"]["env"]["EXOSCALE_ZONE"] = "{{ region }}"
    run = awx_cli(fake_awx, document, tmp_path)
    assert run.returncode != 0
    assert "region" in run.stdout + run.stderr
    assert not fake_awx.credential_types


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
    resolved = settings.resolve_settings(params)
    assert resolved["api_url"] == "https://api-de-fra-1.exoscale.com/v2"
    assert resolved["zone"] == "de-fra-1"


def test_modules_run_with_only_the_injected_environment(credential_type, play_without_credentials, sim):
    env = render_env(credential_type, dict(api_key=sim.key, api_secret=sim.secret, zone="ch-gva-2",
                                           api_endpoint=sim.url))
    assert set(env) == {"EXOSCALE_API_KEY", "EXOSCALE_API_SECRET", "EXOSCALE_ZONE", "EXOSCALE_API_ENDPOINT"}
    run = play_without_credentials([
        {"name": "upload", "inferops.exoscale.ai_model": {"name": QWEN}},
        {"name": "list", "inferops.exoscale.ai_model_info": {"name": QWEN}},
    ], env=dict(env, **hub(sim)))
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
                                   env=dict(env, **hub(sim)))
    assert run.rc == 0, run.output
    zones = sim.control.state()["zones"]
    assert [m["name"] for m in zones["de-fra-1"]["models"].values()] == [QWEN]
    assert not zones["ch-gva-2"]["models"]


def test_a_wrong_secret_in_the_credential_fails(credential_type, play_without_credentials, sim):
    env = render_env(credential_type, dict(api_key=sim.key, api_secret="not-the-secret", zone="ch-gva-2",
                                           api_endpoint=sim.url))
    run = play_without_credentials([{"name": "list", "inferops.exoscale.ai_model_info": {}}], env=dict(env, **hub(sim)))
    assert run.rc != 0
    assert run.status("list") == "failed"
    assert "not-the-secret" not in run.output


# AWX runs every job through ansible-runner: the same credential, injected into the private data dir's env/envvars.

def test_module_runs_through_ansible_runner_with_the_injected_credential(credential_type, ansible_runner, sim):
    env = render_env(credential_type, dict(api_key=sim.key, api_secret=sim.secret, zone="ch-gva-2",
                                           api_endpoint=sim.url))
    run = ansible_runner([
        {"name": "upload", "inferops.exoscale.ai_model": {"name": QWEN}},
        {"name": "list", "inferops.exoscale.ai_model_info": {"name": QWEN}},
    ], env=env)
    assert run.rc == 0, run.output
    assert run.status("upload") == "changed"
    assert [m["state"] for m in run.result("list")["models"]] == ["ready"]
    assert (run.artifacts / "status").read_text().strip() == "successful"
    # What AWX stores and shows of the job: its stdout and its events. The secret is in neither.
    assert sim.secret not in run.output
    assert all(sim.secret not in path.read_text() for path in (run.artifacts / "job_events").glob("*.json"))


def test_a_job_without_the_credential_fails_before_any_api_call(ansible_runner, sim):
    run = ansible_runner([{"name": "list", "inferops.exoscale.ai_model_info": {}}], env={"EXOSCALE_API_ENDPOINT": sim.url})
    assert run.rc != 0
    assert run.status("list") == "failed"
    assert "api_key" in run.result("list")["msg"]
    assert (run.artifacts / "status").read_text().strip() == "failed"
    assert not sim.control.requests()


def test_serve_model_role_through_ansible_runner_with_survey_extravars(credential_type, ansible_runner, sim, tmp_path):
    """The job template of docs/awx.md: the role, its variables as survey answers (extra vars), the credential."""
    env = render_env(credential_type, dict(api_key=sim.key, api_secret=sim.secret, zone="ch-gva-2",
                                           api_endpoint=sim.url))
    playbook = tmp_path / "serve.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Serve a model (AWX)", "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
        "roles": ["inferops.exoscale.serve_model"]}], sort_keys=False))
    survey = dict(serve_model_name=QWEN, serve_model_deployment_name="awx-qwen", serve_model_replicas=1,
                  serve_model_smoke_retry_delay=0.2)
    run = ansible_runner(playbook=playbook, env=env, extravars=survey)
    assert run.rc == 0, run.output
    # Job events name a role's tasks without the role (AWX shows the role in a column of its own).
    assert sorted(run.changed_tasks()) == ["Deploy it as awx-qwen", "Upload the model %s" % QWEN]
    endpoint = run.result("Record the endpoint")["ansible_facts"]["serve_model_endpoint"]
    assert endpoint["deployment"] == "awx-qwen" and endpoint["url"].startswith(sim.base)
    deployments = [d for d in sim.control.state()["zones"]["ch-gva-2"]["deployments"].values()
                   if d["visibility"] == "private"]
    assert [(d["name"], d["replicas"]) for d in deployments] == [("awx-qwen", 1)]
    assert sim.secret not in run.output

    teardown = ansible_runner(playbook=playbook, env=env, extravars=dict(survey, serve_model_state="absent"))
    assert teardown.rc == 0, teardown.output
    assert not [d for d in sim.control.state()["zones"]["ch-gva-2"]["deployments"].values()
                if d["visibility"] == "private"]
