"""Every module and both roles in plays over several hosts, the way teams run them: a static inventory whose hosts
cannot be reached (every task is ``delegate_to: localhost``) with forks 3, ``run_once`` and ``serial``; and the
deployments of the ``inferops.exoscale.ai_deployments`` inventory as the hosts. Each scenario is one playbook run
(its modules and roles in one play), then a rerun that must change nothing; progress lines carry their host.
Modules that read nothing of their host run once per play, each host's resources on every host. No
``run_once`` around shared resources: every host creates the model (and, in the static scenario, a deployment of
one name) at once, and they converge on one of each.
"""
import os
import re

import pytest
import yaml

from tests.integration.test_inventory import GVA, SignedApi

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
HOSTS = ("h1", "h2", "h3")
# Deployments take about 2 s (the waits overlap and show progress lines), models about 1 s.
TIMINGS = dict(deployment_creating=10, deployment_preparing=20, deployment_deploying=70, deployment_scaling=50)
PROGRESS_LINE = re.compile(r"^(?:\[(?P<host>[^\]]+)\] )?(?P<module>ai_\w+) (?P<name>\S+): (?P<steps>.+)$")
EVERY_MODULE = ("ai_model", "ai_model_info", "ai_deployment", "ai_deployment_info", "ai_api_key", "ai_api_key_info",
                "ai_instance_type_info", "ai_engine_parameter_info", "ai_quota_info", "ai_inference", "ai_benchmark")
ROLES = ("serve_model", "rollout")
# Modules whose tasks read nothing of their host: in the static scenario one host runs them (run_once) while the
# others run the rest; the inventory scenario leaves them out with the model, which the static scenario's race
# proves on three hosts at once.
HOST_INDEPENDENT = ("ai_model_info", "ai_instance_type_info", "ai_engine_parameter_info", "ai_quota_info")
PER_INVENTORY_HOST = tuple(module for module in EVERY_MODULE if module not in HOST_INDEPENDENT + ("ai_model",))


def module_python():
    # INTEGRATION_MODULE_PYTHON: modules on another Python than the controller's (mk/matrix.mk: 3.9 on 2.16).
    return os.environ.get("INTEGRATION_MODULE_PYTHON") or "{{ ansible_playbook_python }}"


def progress_lines(text):
    """``[(host, module, name, steps)]`` of the progress lines in a run's stdout."""
    found = []
    for line in text.splitlines():
        match = PROGRESS_LINE.match(line.strip())
        if match:
            found.append((match.group("host"), match.group("module"), match.group("name"), match.group("steps")))
    return found


def per_host_tasks(deployment, key, target, shared=None, host_independent="once"):
    """One task per module; ``deployment``/``key`` are templates naming this host's resources, ``target`` the
    expression of the deployment the inference tasks ask (a name or an id). Every host creates the model at once
    (and, with ``shared``, a deployment of that one name): they converge on one of each. ``host_independent``:
    "once" runs HOST_INDEPENDENT with run_once, None leaves them and the model out."""
    shared_task = [{"name": "shared deployment", "inferops.exoscale.ai_deployment": dict(
        deployment, name=shared), "register": "shared"}] if shared else []
    independent = [
        {"name": "ai_model_info", "inferops.exoscale.ai_model_info": {"name": QWEN}, "register": "model_info"},
        {"name": "ai_instance_type_info", "inferops.exoscale.ai_instance_type_info": {"authorized_only": True},
         "register": "instance_types"},
        {"name": "ai_engine_parameter_info", "inferops.exoscale.ai_engine_parameter_info": {}, "register": "engine"},
        {"name": "ai_quota_info", "inferops.exoscale.ai_quota_info": {"family": "gpua5000"}, "register": "quota"},
    ]
    independent_checks = [
        "model_info.models | length == 1",
        "instance_types.instance_types | selectattr('family', 'equalto', 'gpua5000') | list | length == 1",
        "engine.parameters | length > 0",
        "quota.gpu_quota.gpua5000 is defined"]
    if host_independent == "once":
        first = [{"name": "ai_model", "inferops.exoscale.ai_model": {"name": QWEN}}, *shared_task,
                 *[dict(task, run_once=True) for task in independent]]
    else:
        first, independent_checks = [*shared_task], []
    return [
        *first,
        {"name": "ai_deployment", "inferops.exoscale.ai_deployment": deployment, "register": "deployment"},
        {"name": "ai_deployment_info", "inferops.exoscale.ai_deployment_info": {"name": deployment["name"]},
         "register": "deployment_info"},
        {"name": "ai_api_key", "inferops.exoscale.ai_api_key": {"name": key, "scope": target}, "register": "api_key",
         "no_log": True},
        {"name": "ai_api_key_info", "inferops.exoscale.ai_api_key_info": {"name": key}, "register": "api_key_info"},
        {"name": "ai_inference", "inferops.exoscale.ai_inference": {
            "deployment": target, "prompt": "Say hello.", "max_tokens": 8}, "register": "answer"},
        {"name": "ai_benchmark", "inferops.exoscale.ai_benchmark": {
            "deployment": target, "requests": 4, "concurrency": 2, "max_tokens": 8}, "register": "benchmark"},
        {"name": "what the modules saw", "ansible.builtin.assert": {"quiet": True, "that": independent_checks + [
            "deployment.deployment.state == 'ready'",
            "deployment_info.deployments | map(attribute='id') | list == [deployment.deployment.id]",
            "api_key_info.api_keys | length == 1",
            "answer.content | length > 0",
            "benchmark.error_rate == 0"]}},
    ]


def role_tasks(serve_model_vars, rollout_vars=None):
    """serve_model, then (with ``rollout_vars``) the rollout role."""
    serve_model = [
        {"name": "serve_model", "ansible.builtin.include_role": {"name": "inferops.exoscale.serve_model"},
         "vars": dict({"serve_model_name": QWEN, "serve_model_smoke_retry_delay": 0.2,
                       "serve_model_delete_model": False}, **serve_model_vars)}]
    if rollout_vars is None:
        return serve_model
    return serve_model + [
        {"name": "rollout", "ansible.builtin.include_role": {"name": "inferops.exoscale.rollout"},
         "vars": dict({"rollout_model": QWEN, "rollout_smoke_retry_delay": 0.2}, **rollout_vars)},
        {"name": "rollout outcome", "ansible.builtin.assert": {"quiet": True, "that": [
            "rollout_result.outcome in ['switched', 'unchanged']"]}},
    ]


def delegated(tasks):
    """The tasks, each run on the controller for its host; roles through ``apply``."""
    result = []
    for task in tasks:
        task = dict(task)
        if "ansible.builtin.include_role" in task:
            task["ansible.builtin.include_role"] = dict(task["ansible.builtin.include_role"],
                                                        apply={"delegate_to": "localhost"})
        else:
            task["delegate_to"] = "localhost"
        result.append(task)
    return result


def unreachable_inventory(tmp_path, hosts=HOSTS):
    """Hosts that nothing can log in to: a task that is not delegated to the controller fails as unreachable."""
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {"fleet": {"hosts": {
        host: {"ansible_host": "127.0.0.1", "ansible_port": 9, "ansible_connection": "ssh"} for host in hosts}}}}}))
    return path


def write_playbook(tmp_path, plays):
    path = tmp_path / "many-hosts.yml"
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    return path


def private_deployments(sim, zone="ch-gva-2"):
    """{name: number of deployments of that name} in the simulator."""
    counts = {}
    for deployment in sim.control.state()["zones"][zone]["deployments"].values():
        if deployment["visibility"] == "private":
            counts[deployment["name"]] = counts.get(deployment["name"], 0) + 1
    return counts


def models(sim, zone="ch-gva-2"):
    return sorted(model["name"] for model in sim.control.state()["zones"][zone]["models"].values())


def api_keys(sim, zone="ch-gva-2"):
    return sorted(key["name"] for key in sim.control.state()["zones"][zone]["api_keys"].values())


def assert_every_module_and_role_ran(run, hosts, once=(), modules=EVERY_MODULE, roles=ROLES):
    """Each of ``modules`` ran on every host (``once``: run_once tasks, on one host), ``roles`` too."""
    ran = {(r["host"], r["task"]) for r in run.records if r["status"] in ("ok", "changed")}
    for name in once:
        assert [host for host in hosts if (host, name) in ran], (name, run.output[-4000:])
    for host in hosts:
        missing = [name for name in modules if name not in once and (host, name) not in ran]
        assert not missing, (host, missing, run.output[-4000:])
    role_tasks_ran = {(r["host"], r["task"].split(" : ")[0]) for r in run.records if " : " in r["task"]}
    for host in hosts:
        for role in roles:
            assert (host, "inferops.exoscale." + role) in role_tasks_ran, (host, role)


def assert_lines_carry_their_host(run, hosts, name_of):
    """Every progress line names a host; each host shows waits of its own deployments (``name_of(host)`` is in
    their names) and no line of a host is about another host's resources (the shared model aside).

    Not one given wait per host: a wait whose first poll already sees the end state shows no line, and on a
    loaded machine any one short wait can be that (a cause of flakes); each host has four deployment waits."""
    lines = progress_lines(run.stdout)
    assert lines and all(host in hosts for host, _module, _name, _steps in lines), run.stdout
    for host in hosts:
        own = [(module, name) for line_host, module, name, _steps in lines if line_host == host]
        assert [name for module, name in own if name_of(host) in name], (host, lines)
        others = [name_of(other) for other in hosts if other != host]
        assert not [name for module, name in own if any(other in name for other in others)], (host, own)


def same_id_on_every_host(run, task, kind, hosts):
    """The one id that ``task`` returned on every host (all hosts must have run it)."""
    ids = {r["host"]: r["result"][kind]["id"] for r in run.records if r["task"] == task}
    assert sorted(ids) == sorted(hosts), (task, ids)
    assert len(set(ids.values())) == 1, (task, ids)
    return next(iter(ids.values()))


# Each scenario runs ~60 tasks on 3 hosts twice: ~130 s on an idle machine, near the default 300 s timeout when
# other jobs share its 2 cores (the cause of a timeout flake): a margin, not a wait.
@pytest.mark.timeout(600)
@pytest.mark.core_subset
def test_static_inventory_delegated_forks_and_run_once(play, sim, tmp_path):
    """Also the create race of three hosts: each host's model and shared-deployment POSTs are held 3 s, so every
    host lists before any copy exists and creates its own; they converge on one of each, no host fails."""
    sim.control.config(timings=TIMINGS)
    for kind in ("model", "deployment"):
        sim.control.inject("POST", "/v2/ai/" + kind, action="delay", delay=3, count=len(HOSTS))
    deployment = {"name": "mh-{{ inventory_hostname }}", "model": QWEN, "gpu_type": "gpua5000", "gpu_count": 1}
    tasks = per_host_tasks(deployment, "mh-key-{{ inventory_hostname }}", "mh-{{ inventory_hostname }}",
                           shared="mh-shared")
    # serve_model creates sm-<host>; the rollout of the same settings onto it is the "unchanged" path (its
    # candidate flow on many hosts costs ~40 s here and is covered by tests/integration/test_role_rollout*.py)
    tasks += role_tasks({"serve_model_deployment_name": "sm-{{ inventory_hostname }}"},
                        {"rollout_name": "sm-{{ inventory_hostname }}"})
    play_vars = {"ansible_python_interpreter": module_python()}
    plays = [
        {"name": "every module and role on each host", "hosts": "fleet", "gather_facts": False, "vars": play_vars,
         "tasks": delegated([
             {"name": "organisation quota, once for the play", "inferops.exoscale.ai_quota_info": {},
              "run_once": True, "register": "org_quota"},
             *tasks])},
    ]
    playbook = write_playbook(tmp_path, plays)
    inventory = unreachable_inventory(tmp_path)

    first = play(None, "-i", str(inventory), "-f", "3", playbook=playbook)
    assert first.rc == 0, first.output[-6000:]
    assert_every_module_and_role_ran(first, HOSTS, once=HOST_INDEPENDENT)
    assert sorted(first.changed_tasks()).count("ai_deployment") == 3
    # the race: at least two hosts created each; all hosts report the one that is left
    creators = {task: [r["host"] for r in first.records if r["task"] == task and r["status"] == "changed"]
                for task in ("ai_model", "shared deployment")}
    assert all(len(hosts) >= 2 for hosts in creators.values()), creators
    model_id = same_id_on_every_host(first, "ai_model", "model", HOSTS)
    shared_id = same_id_on_every_host(first, "shared deployment", "deployment", HOSTS)
    sim.control.clear_faults()
    assert [r["host"] for r in first.records if r["task"] == "organisation quota, once for the play"] == ["h1"]
    assert_lines_carry_their_host(first, HOSTS, lambda host: "-" + host)

    expected = dict({name + host: 1 for host in HOSTS for name in ("mh-", "sm-")}, **{"mh-shared": 1})
    assert private_deployments(sim) == expected
    assert models(sim) == [QWEN]
    state = sim.control.state()["zones"]["ch-gva-2"]
    assert list(state["models"]) == [model_id] and shared_id in state["deployments"]
    assert api_keys(sim) == sorted("mh-key-" + host for host in HOSTS)

    rerun = play(None, "-i", str(inventory), "-f", "3", playbook=playbook)
    assert rerun.rc == 0, rerun.output[-6000:]
    assert rerun.changed_tasks() == [], rerun.changed_tasks()
    assert_every_module_and_role_ran(rerun, HOSTS, once=HOST_INDEPENDENT)
    assert private_deployments(sim) == expected and models(sim) == [QWEN]
    assert same_id_on_every_host(rerun, "shared deployment", "deployment", HOSTS) == shared_id


@pytest.mark.timeout(600)
def test_the_inventory_plugins_deployments_as_hosts(play, sim, tmp_path):
    """Each deployment of the ai_deployments inventory is a host (ansible_connection local); the play scales them,
    asks them, keys them and hands them to serve_model, forks 3; the rerun reads the inventory again and changes
    nothing."""
    sim.control.config(timings=TIMINGS)
    api = SignedApi(sim)
    model = api.model(GVA)
    names = {"inv-a": "inv-a", "inv-b": "inv-b", "inv_c": "inv,c"}  # host name: deployment name
    for name in names.values():
        api.deployment(GVA, name, model)
    source = tmp_path / "fleet.ai_deployments.yml"
    source.write_text(yaml.safe_dump({"plugin": "inferops.exoscale.ai_deployments", "zones": [GVA],
                                      "api_url": sim.base + "/{zone}/v2"}))
    deployment = {"name": "{{ deployment_name }}", "model": "{{ model }}", "gpu_type": "{{ gpu_type }}",
                  "gpu_count": "{{ gpu_count }}", "replicas": 2}
    # What reads the host's variables, and serve_model with them; the rollout role and the host-independent modules
    # run on three hosts in test_static_inventory_delegated_forks_and_run_once (the rollout's own paths:
    # tests/integration/test_role_rollout*.py).
    tasks = per_host_tasks(deployment, "key-{{ inventory_hostname }}", "{{ id }}", host_independent=None)
    tasks += role_tasks({"serve_model_deployment_name": "{{ deployment_name }}", "serve_model_replicas": 2})
    playbook = write_playbook(tmp_path, [{"name": "every deployment", "hosts": "all", "gather_facts": False,
                                          "vars": {"ansible_python_interpreter": module_python()}, "tasks": tasks}])

    first = play(None, "-i", str(source), "-f", "3", playbook=playbook)
    assert first.rc == 0, first.output[-6000:]
    assert_every_module_and_role_ran(first, names, modules=PER_INVENTORY_HOST, roles=("serve_model",))
    assert sorted(r["host"] for r in first.records if r["task"] == "ai_deployment" and r["status"] == "changed") \
        == sorted(names)
    assert_lines_carry_their_host(first, names, names.get)
    assert private_deployments(sim) == {name: 1 for name in names.values()}
    assert {d["name"]: d["replicas"] for d in sim.control.state()["zones"][GVA]["deployments"].values()
            if d["visibility"] == "private"} == {name: 2 for name in names.values()}
    assert api_keys(sim) == sorted("key-" + host for host in names)

    rerun = play(None, "-i", str(source), "-f", "3", playbook=playbook)
    assert rerun.rc == 0, rerun.output[-6000:]
    assert rerun.changed_tasks() == [], rerun.changed_tasks()
    assert_every_module_and_role_ran(rerun, names, modules=PER_INVENTORY_HOST, roles=("serve_model",))
    assert private_deployments(sim) == {name: 1 for name in names.values()} and models(sim) == [QWEN]


def test_serial_batches_with_run_once_per_batch(play, sim, tmp_path):
    """``serial: 2`` over the 3 unreachable hosts: two batches (h1, h2) and (h3), each host's deployment created in
    its batch, ``run_once`` once per batch; the rerun changes nothing."""
    sim.control.config(timings=TIMINGS)
    deployment = {"name": "se-{{ inventory_hostname }}", "model": QWEN, "gpu_type": "gpua5000", "gpu_count": 1}
    playbook = write_playbook(tmp_path, [
        {"name": "two hosts at a time", "hosts": "fleet", "gather_facts": False, "serial": 2,
         "vars": {"ansible_python_interpreter": module_python()}, "tasks": delegated([
             {"name": "model", "inferops.exoscale.ai_model": {"name": QWEN}},
             {"name": "serial ai_deployment", "inferops.exoscale.ai_deployment": deployment},
             {"name": "serial ai_inference once per batch", "inferops.exoscale.ai_inference": {
                 "deployment": "se-{{ inventory_hostname }}", "prompt": "ping", "max_tokens": 4}, "run_once": True}])}])
    inventory = unreachable_inventory(tmp_path)
    first = play(None, "-i", str(inventory), "-f", "3", playbook=playbook)
    assert first.rc == 0, first.output[-6000:]
    assert [r["host"] for r in first.records if r["task"] == "serial ai_inference once per batch"] == ["h1", "h3"]
    assert sorted(r["host"] for r in first.records if r["task"] == "serial ai_deployment" and r["status"] == "changed") \
        == list(HOSTS)
    assert private_deployments(sim) == {"se-" + host: 1 for host in HOSTS} and models(sim) == [QWEN]
    rerun = play(None, "-i", str(inventory), "-f", "3", playbook=playbook)
    assert rerun.rc == 0 and rerun.changed_tasks() == [], rerun.output[-6000:]
