"""The inferops.exoscale.ai_deployments inventory plugin, run by real ansible-inventory processes against the simulator."""
import ast
import json
import subprocess
import time

import pytest
import requests
import yaml
from exoscale_auth import ExoscaleV2Auth

from tests.integration.conftest import BIN, COLLECTIONS_PATH, harness_env

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
GVA, FRA = "ch-gva-2", "de-fra-1"
# A deployment name is any text: the inventory must never evaluate it as a template.
TEMPLATE_NAME = "tmp-{{ 6 * 7 }}"


class SignedApi:
    """Seeds the simulator with the official request signer (independent of the code under test)."""

    def __init__(self, sim):
        self.sim = sim
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.auth = ExoscaleV2Auth(sim.key, sim.secret)

    def call(self, method, zone, path, body=None):
        response = self.session.request(method, "%s/%s/v2%s" % (self.sim.base, zone, path), json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def wait(self, zone, path, state, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            resource = self.call("GET", zone, path)
            if resource["state"] == state:
                return resource
            assert time.monotonic() < deadline, "%s still %s" % (path, resource["state"])
            time.sleep(0.05)

    def model(self, zone):
        operation = self.call("POST", zone, "/ai/model", {"name": QWEN})
        return self.wait(zone, "/ai/model/%s" % operation["reference"]["id"], "ready")

    def deployment(self, zone, name, model, gpu_type="gpua5000", gpu_count=1, replicas=1):
        operation = self.call("POST", zone, "/ai/deployment", {
            "name": name, "model": {"id": model["id"]}, "gpu-type": gpu_type, "gpu-count": gpu_count,
            "replicas": replicas})
        return self.wait(zone, "/ai/deployment/%s" % operation["reference"]["id"], "ready")


@pytest.fixture
def seeded(sim):
    """Two zones: ch-gva-2 has chat (1 x gpua5000), batch (2 x gpu3080ti, 2 replicas), tmp-{{ 6 * 7 }}, then a
    deployment in error; de-fra-1 has a second deployment named chat."""
    api = SignedApi(sim)
    gva_model, fra_model = api.model(GVA), api.model(FRA)
    deployments = {
        "chat": api.deployment(GVA, "chat", gva_model),
        "batch": api.deployment(GVA, "batch", gva_model, gpu_type="gpu3080ti", gpu_count=2, replicas=2),
        "tmp-probe": api.deployment(GVA, TEMPLATE_NAME, gva_model),
        "broken": api.deployment(GVA, "broken", gva_model),
        "fra-chat": api.deployment(FRA, "chat", fra_model),
    }
    sim.control.error_deployment(deployments["broken"]["id"], "CUDA out of memory")
    sim.control.clear_requests()
    return deployments


def write_source(tmp_path, sim, name="ai_deployments.yml", **options):
    config = dict({"plugin": "inferops.exoscale.ai_deployments", "api_url": sim.base + "/{zone}/v2"}, **options)
    source = tmp_path / name
    source.write_text(yaml.safe_dump(config, sort_keys=False))
    return source


def inventory(tmp_path, sim, source, *args, env=None, tool="ansible-inventory"):
    """Run ansible-inventory (or ``tool``) on ``source``; any source that fails to parse fails the command."""
    full_env = harness_env(tmp_path, env=dict(dict(EXOSCALE_API_KEY=sim.key, EXOSCALE_API_SECRET=sim.secret,
                                                   ANSIBLE_INVENTORY_UNPARSED_FAILED="1"), **(env or {})))
    return subprocess.run([str(BIN / tool), "-i", str(source), *args], env=full_env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)


def said(process):
    """stderr with whitespace runs folded: ansible-core 2.16 wraps warnings at the terminal width."""
    return " ".join(process.stderr.split())


def plain(data):
    """ansible-inventory 2.19+ writes API strings (never templated) as {"__ansible_unsafe": text}; older ones as text."""
    if isinstance(data, dict):
        if list(data) == ["__ansible_unsafe"]:
            return data["__ansible_unsafe"]
        return {key: plain(value) for key, value in data.items()}
    if isinstance(data, list):
        return [plain(item) for item in data]
    return data


def listed(process):
    assert process.returncode == 0, process.stdout + process.stderr
    return plain(json.loads(process.stdout))


def group_hosts(data, group):
    return sorted(data.get(group, {}).get("hosts", []))


def deployment_lists(sim):
    return [(entry["zone"], entry["query"]) for entry in sim.control.requests()
            if entry["method"] == "GET" and entry["path"].endswith("/ai/deployment")]


@pytest.mark.core_subset
def test_two_zones_host_vars_keyed_groups_compose_and_filters(sim, seeded, tmp_path):
    source = write_source(
        tmp_path, sim, zones=[GVA, FRA],
        keyed_groups=[{"key": "state", "prefix": "state"}, {"key": "gpu_type", "prefix": "gpu"},
                      {"key": "zone", "prefix": "zone"}],
        groups={"multi_gpu": "gpu_count > 1"},
        compose={"gpus_in_use": "gpu_count * replicas", "openai_base_url": "url"},
        filters=[{"exclude": "deployment_name.startswith('tmp-')"}, {"include": "state == 'ready'"}, {"include": "zone == 'nowhere'"},
                 {"exclude": True}])
    data = listed(inventory(tmp_path, sim, source, "--list"))
    hostvars = data["_meta"]["hostvars"]

    # tmp-probe is excluded by name, broken (state error) by the final exclude; the second "chat" gets its id.
    fra_id = seeded["fra-chat"]["id"]
    assert sorted(hostvars) == sorted(["chat", "batch", fra_id])
    assert deployment_lists(sim) == [(GVA, {"visibility": "private"}), (FRA, {"visibility": "private"})]

    batch, seeded_batch = hostvars["batch"], seeded["batch"]
    assert {key: batch[key] for key in ("id", "deployment_name", "url", "model", "model_id", "state", "replicas", "gpu_type",
                                        "gpu_count", "zone", "visibility", "ansible_connection")} == {
        "id": seeded_batch["id"], "deployment_name": "batch", "url": seeded_batch["deployment-url"], "model": QWEN,
        "model_id": seeded_batch["model"]["id"], "state": "ready", "replicas": 2, "gpu_type": "gpu3080ti",
        "gpu_count": 2, "zone": GVA, "visibility": "private", "ansible_connection": "local"}
    assert batch["url"].startswith("http")
    # ansible-core before 2.19 templates compose expressions to text.
    assert str(batch["gpus_in_use"]) == "4" and str(hostvars["chat"]["gpus_in_use"]) == "1"
    assert batch["openai_base_url"] == batch["url"]
    assert hostvars[fra_id]["zone"] == FRA and hostvars[fra_id]["deployment_name"] == "chat"

    assert group_hosts(data, "state_ready") == sorted(["batch", "chat", fra_id])
    assert group_hosts(data, "gpu_gpu3080ti") == ["batch"]
    assert group_hosts(data, "gpu_gpua5000") == sorted(["chat", fra_id])
    assert group_hosts(data, "zone_ch_gva_2") == ["batch", "chat"]
    assert group_hosts(data, "zone_de_fra_1") == [fra_id]
    assert group_hosts(data, "multi_gpu") == ["batch"]
    assert "state_error" not in data

    graph = inventory(tmp_path, sim, source, "--graph", "state_ready")
    assert graph.returncode == 0, graph.stderr
    assert graph.stdout.splitlines()[0] == "@state_ready:"
    assert sorted(line.strip(" |-") for line in graph.stdout.splitlines()[1:]) == sorted(["batch", "chat", fra_id])
    assert sim.secret not in "".join((json.dumps(data) + graph.stdout + graph.stderr).split())


def test_without_filters_every_private_deployment_and_public_ones_on_request(sim, seeded, tmp_path):
    source = write_source(tmp_path, sim, hostname="id", compose={"label": "deployment_name ~ '!'"},
                          filters=[{"exclude": "deployment_name == 'tmp-42'"}])
    data = listed(inventory(tmp_path, sim, source, "--list"))
    hostvars = data["_meta"]["hostvars"]
    assert sorted(hostvars) == sorted(d["id"] for name, d in seeded.items() if name != "fra-chat")
    assert hostvars[seeded["broken"]["id"]]["state"] == "error"
    probe = hostvars[seeded["tmp-probe"]["id"]]
    assert probe["deployment_name"] == TEMPLATE_NAME and probe["label"] == TEMPLATE_NAME + "!"

    public = listed(inventory(tmp_path, sim, write_source(tmp_path, sim, visibility="public"), "--list",
                              env={"EXOSCALE_ZONE": FRA}))
    assert public["_meta"]["hostvars"], "the simulator lists Exoscale-managed deployments in every zone"
    assert {h["visibility"] for h in public["_meta"]["hostvars"].values()} == {"public"}
    assert {h["zone"] for h in public["_meta"]["hostvars"].values()} == {FRA}


def documented_example():
    """The first YAML document of the plugin's EXAMPLES."""
    plugin = COLLECTIONS_PATH / "ansible_collections" / "inferops" / "exoscale" / "plugins" / "inventory" / "ai_deployments.py"
    for node in ast.parse(plugin.read_text()).body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "EXAMPLES":
            return next(yaml.safe_load_all(node.value.value))
    raise AssertionError("no EXAMPLES in %s" % plugin)


def test_documented_example_runs_against_the_simulator(sim, seeded, tmp_path):
    example = documented_example()
    example["cache_connection"] = str(tmp_path / "example-cache")
    data = listed(inventory(tmp_path, sim, write_source(tmp_path, sim, **example), "--list"))
    fra_id = seeded["fra-chat"]["id"]
    assert sorted(data["_meta"]["hostvars"]) == sorted(["chat", "batch", fra_id])
    assert group_hosts(data, "serving") == sorted(["chat", "batch", fra_id])
    assert group_hosts(data, "zone_de_fra_1") == [fra_id]


@pytest.mark.core_subset
def test_cache_hit_sends_no_second_list_and_flush_refetches(sim, seeded, tmp_path):
    cache_dir = tmp_path / "inventory-cache"
    source = write_source(tmp_path, sim, zones=[GVA, FRA], cache=True, cache_plugin="ansible.builtin.jsonfile",
                          cache_connection=str(cache_dir), cache_timeout=600)
    first = listed(inventory(tmp_path, sim, source, "--list"))
    assert len(deployment_lists(sim)) == 2
    assert any(cache_dir.iterdir()), "nothing was cached"
    assert sim.secret not in "".join(path.read_text() for path in cache_dir.iterdir())

    # A deployment created now is not seen through the cache: the second run answers from it, no request at all.
    api = SignedApi(sim)
    api.deployment(GVA, "late", api.call("GET", GVA, "/ai/model")["models"][0])
    sim.control.clear_requests()
    second = listed(inventory(tmp_path, sim, source, "--list"))
    assert second["_meta"]["hostvars"] == first["_meta"]["hostvars"]
    assert sim.control.requests() == []

    # --flush-cache (of ansible-playbook: ansible-inventory 2.16 lacks it) reads the API again and refills the cache.
    playbook = tmp_path / "late.yml"
    playbook.write_text(yaml.safe_dump([{"name": "late", "hosts": "late", "gather_facts": False, "tasks": [
        {"name": "host vars", "ansible.builtin.assert": {"that": ["zone == 'ch-gva-2'", "state == 'ready'"]}}]}]))
    flushed = inventory(tmp_path, sim, source, "--flush-cache", str(playbook), tool="ansible-playbook")
    assert flushed.returncode == 0 and "late" in flushed.stdout, flushed.stdout + flushed.stderr
    assert len(deployment_lists(sim)) == 2
    sim.control.clear_requests()
    assert "late" in listed(inventory(tmp_path, sim, source, "--list"))["_meta"]["hostvars"]
    assert sim.control.requests() == []

    # The same file asking for something else (here: public deployments too) is not answered from the cache.
    source = write_source(tmp_path, sim, zones=[GVA, FRA], cache=True, cache_plugin="ansible.builtin.jsonfile",
                          cache_connection=str(cache_dir), cache_timeout=600, visibility="all")
    everything = listed(inventory(tmp_path, sim, source, "--list"))
    assert deployment_lists(sim) == [(GVA, {}), (FRA, {})]
    assert {h["visibility"] for h in everything["_meta"]["hostvars"].values()} == {"private", "public"}


def test_refusals_name_the_field_before_any_request(sim, tmp_path):
    cases = [
        (dict(zones=[GVA, FRA], api_url=sim.url), "has no {zone} placeholder"),
        (dict(zones=["geneva"]), "zone 'geneva' is not a zone name"),
        (dict(filters=[{"keep": "true"}]), "filters[0]"),
        (dict(filters=[{"include": "state == 'ready'", "exclude": "false"}]), "exactly one key, include or exclude"),
    ]
    for options, message in cases:
        source = write_source(tmp_path, sim, **options)
        process = inventory(tmp_path, sim, source, "--list")
        assert process.returncode != 0, options
        assert message in said(process), (options, process.stderr)
    process = inventory(tmp_path, sim, write_source(tmp_path, sim), "--list", env={"EXOSCALE_API_KEY": ""})
    assert process.returncode != 0 and "EXOSCALE_API_KEY is missing" in said(process), process.stderr
    assert sim.control.requests() == []


def test_api_errors_fail_the_source_without_leaking_the_secret(sim, tmp_path):
    wrong_secret = "wrong-secret-0123456789"
    process = inventory(tmp_path, sim, write_source(tmp_path, sim), "--list", env={"EXOSCALE_API_SECRET": wrong_secret})
    assert process.returncode != 0
    assert "Cannot list the AI deployments of zone ch-gva-2" in said(process) and "HTTP 403" in said(process)
    # Also across the line breaks that wrapping may insert into a long word.
    assert wrong_secret not in "".join((process.stdout + process.stderr).split())

    # A file that is not named *ai_deployments.yml is not this plugin's source.
    other = write_source(tmp_path, sim, name="exoscale.yml")
    process = inventory(tmp_path, sim, other, "--list")
    assert process.returncode != 0 and "ai_deployments" in said(process), process.stderr


def test_several_zones_on_an_endpoint_that_names_no_zone_are_refused(sim, seeded, tmp_path):
    """The simulator's /v2 (like any endpoint without a zone) serves one zone: read once per zone, every deployment
    would be listed twice, the second time under the wrong zone."""
    source = write_source(tmp_path, sim, zones=[GVA, FRA])
    source.write_text(source.read_text().replace("api_url: %s/{zone}/v2\n" % sim.base, ""))
    assert "api_url" not in source.read_text()
    process = inventory(tmp_path, sim, source, "--list", env={"EXOSCALE_API_ENDPOINT": sim.url})
    assert process.returncode != 0, process.stdout
    message = said(process)
    assert "zones lists ch-gva-2, de-fra-1, but the endpoint %s (from EXOSCALE_API_ENDPOINT) names no zone" % sim.url \
        in message, message
    assert "Give one endpoint per zone: put {zone} into api_url (or EXOSCALE_API_ENDPOINT), for example %s/{zone}/v2" \
        % sim.base in message, message
    assert deployment_lists(sim) == []

    # Done as the message says, each deployment is listed once, in its own zone.
    data = listed(inventory(tmp_path, sim, source, "--list", env={"EXOSCALE_API_ENDPOINT": sim.base + "/{zone}/v2"}))
    hostvars = data["_meta"]["hostvars"]
    assert sorted(h["id"] for h in hostvars.values()) == sorted(d["id"] for d in seeded.values())
    assert {h["id"]: h["zone"] for h in hostvars.values()} == {
        d["id"]: (FRA if key == "fra-chat" else GVA) for key, d in seeded.items()}

    # One zone on such an endpoint is allowed: that endpoint is that zone's.
    single = write_source(tmp_path, sim, zones=[GVA], api_url=sim.url)
    assert sorted(listed(inventory(tmp_path, sim, single, "--list"))["_meta"]["hostvars"]) == sorted(
        ["chat", "batch", "tmp-_6_7_", "broken"])


def test_host_variables_use_no_name_that_ansible_reserves(sim, seeded, tmp_path):
    """The deployment's name is ``deployment_name``: a variable ``name`` gets Ansible's reserved-name warning."""
    source = write_source(tmp_path, sim, zones=[GVA, FRA], filters=[{"include": "state == 'ready'"}, {"exclude": True}])
    playbook = tmp_path / "names.yml"
    playbook.write_text(yaml.safe_dump([{"name": "names", "hosts": "all", "gather_facts": False, "tasks": [
        {"name": "name", "ansible.builtin.debug": {
            "msg": "{{ inventory_hostname }}={{ deployment_name | default('(none)') }}"}}]}]))
    process = inventory(tmp_path, sim, source, str(playbook), tool="ansible-playbook")
    assert process.returncode == 0, process.stdout + process.stderr
    # ansible-core 2.19: "[WARNING]: Found variable using reserved name 'name'."
    assert "reserved" not in (process.stdout + process.stderr).lower(), process.stdout + process.stderr
    fra_id = seeded["fra-chat"]["id"]
    for host, name in (("chat", "chat"), ("batch", "batch"), (fra_id, "chat")):
        assert '"msg": "%s=%s"' % (host, name) in process.stdout, process.stdout
    hostvars = listed(inventory(tmp_path, sim, source, "--list"))["_meta"]["hostvars"]
    assert not [host for host, host_vars in hostvars.items() if "name" in host_vars], hostvars


PATTERN_NAMES = {"eu,chat": "eu_chat", "ns:chat": "ns_chat", "!chat": "_chat", "a&b": "a_b", "web[1]": "web_1_",
                 "two  words": "two_words", "été-7.b_c": "été-7.b_c"}


def test_names_with_host_pattern_characters_get_safe_host_names(sim, tmp_path):
    api = SignedApi(sim)
    model = api.model(GVA)
    made = {name: api.deployment(GVA, name, model) for name in (*PATTERN_NAMES, "eu_chat", "all")}
    source = write_source(tmp_path, sim, zones=[GVA])
    process = inventory(tmp_path, sim, source, "--list")
    hostvars = listed(process)["_meta"]["hostvars"]
    # "eu_chat" is created after "eu,chat", whose safe name it is: the later one gets its id; "all" is a group.
    expected = dict(PATTERN_NAMES, eu_chat=made["eu_chat"]["id"], all=made["all"]["id"])
    assert {host: host_vars["deployment_name"] for host, host_vars in hostvars.items()} == {
        host: name for name, host in expected.items()}
    assert "Deployment %s (zone ch-gva-2, named 'eu_chat') would have the host name 'eu_chat'" % made["eu_chat"]["id"] \
        in said(process), process.stderr

    # Host patterns name them: a list, an intersection, an exclusion, as --limit and hosts: take them.
    for pattern, hosts in (("eu_chat,ns_chat", ["eu_chat", "ns_chat"]), ("all:!_chat:!a_b", None),
                           ("web_1_:&all", ["web_1_"])):
        process = inventory(tmp_path, sim, source, pattern, "--list-hosts", tool="ansible")
        assert process.returncode == 0, process.stdout + process.stderr
        found = sorted(line.strip() for line in process.stdout.splitlines()[1:])
        assert found == (hosts or sorted(set(hostvars) - {"_chat", "a_b"})), (pattern, process.stdout)
    playbook = tmp_path / "limit.yml"
    playbook.write_text(yaml.safe_dump([{"name": "limit", "hosts": "all", "gather_facts": False, "tasks": [
        {"name": "name", "ansible.builtin.debug": {"msg": "{{ inventory_hostname }}={{ deployment_name }}"}}]}]))
    process = inventory(tmp_path, sim, source, "--limit", "ns_chat:two_words", str(playbook), tool="ansible-playbook")
    assert process.returncode == 0, process.stdout + process.stderr
    assert '"msg": "ns_chat=ns:chat"' in process.stdout and '"msg": "two_words=two  words"' in process.stdout
    assert "ok=1" in process.stdout and process.stdout.count("ok=1") == 2, process.stdout
