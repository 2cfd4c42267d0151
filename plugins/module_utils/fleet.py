# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Fleets: one declared environment (models, deployments, organization API keys across zones), one plan, one apply.

Everything the environment owns is named ``<environment>-<name>``; nothing else is ever written to (models,
which several environments share, are created when missing and never deleted). The plan is made from one
list per kind per zone (models, deployments, API keys) and, because the deployment list lacks the engine
settings, one GET of a deployment only when its ``updated-at`` moved since this controller last read it
(``DetailCache``). Refusals (bad input, preflight, GPU quota, cost cap, promotion source) come before any
write, in check mode too. ``apply`` runs one thread per action (one client per zone, the collection's waiter),
ordered only where one action needs another (a model before its deployments, a deployment's id before a key
scoped to it, freed GPUs before added ones); a failed action fails only the actions that need it.

A deployment with ``placement`` is placed by placement.py (the engine ai_deployment uses): it stays in the zone
of its list where it runs, else takes the first option that passes, counting the GPUs of the rest of the plan.
Each resource's diff and writes are the resource driver's (``Driver``, resource.ResourceModule), not a copy.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import calendar
import copy
import hashlib
import json
import os
import re
import threading
import time

from ansible_collections.inferops.exoscale.plugins.module_utils import ai, cost, engine, fit, placement, preflight
from ansible_collections.inferops.exoscale.plugins.module_utils.client import ExoscaleError
from ansible_collections.inferops.exoscale.plugins.module_utils.convert import AmbiguousName, pick_one
from ansible_collections.inferops.exoscale.plugins.module_utils.hub import HubClient
from ansible_collections.inferops.exoscale.plugins.module_utils.module_setup import client_from_module
from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused
from ansible_collections.inferops.exoscale.plugins.module_utils.settings import ConfigError, resolve_settings
from ansible_collections.inferops.exoscale.plugins.module_utils.resource import (
    IMMUTABLE,
    Plan,
    ResourceFailed,
    ResourceModule,
    oldest_of,
)
from ansible_collections.inferops.exoscale.plugins.module_utils.waiter import Deadline

ENVIRONMENT_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
ENTRY_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?$")
VERSION_PATTERN = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")
MAX_GPU_COUNT = placement.MAX_GPU_COUNT
PLACEMENT_SPEC = placement.SPEC
MAX_KEY_NAME = 50
# What promotion copies from the source environment: the spec that passed its gate (not replicas, not zones).
PROMOTED_FIELDS = ("model", "gpu_type", "gpu_count", "inference_engine_version", "inference_engine_parameters")
SPEC_FIELDS = ("zone",) + PROMOTED_FIELDS + ("replicas",)
# A cached detail is trusted only when it was read this long after the deployment's last update: updated-at has
# one-second resolution, so a change made after the read then always shows as a different updated-at.
CACHE_MARGIN = 5.0
DETAIL_THREADS = 8
CHECKS = preflight.DEPLOYMENT_CHECKS + tuple(c for c in preflight.MODEL_CHECKS if c not in preflight.DEPLOYMENT_CHECKS)


# ---------------------------------------------------------------------------------------------------------
# The declared environment

def load_source(source):
    """The ``spec`` of another environment from its registered result, or from a JSON/YAML file of it."""
    if isinstance(source, str):
        try:
            with open(os.path.expanduser(source)) as handle:
                text = handle.read()
        except (IOError, OSError) as exc:
            raise Refused("from: cannot read %s: %s." % (source, exc))
        try:
            source = json.loads(text)
        except ValueError:
            try:
                import yaml  # pylint: disable=import-outside-toplevel
                source = yaml.safe_load(text)
            except Exception as exc:  # pylint: disable=broad-except
                raise Refused("from: %s is neither JSON nor YAML: %s." % (source, exc))
    if not isinstance(source, dict):
        raise Refused("from must be the registered result of an ai_fleet task (or its spec), or a file path.")
    if source.get("failed") or source.get("failed_actions"):
        raise Refused("from: the source environment %r did not converge (its result lists failures); promote only"
                      " what passed: fix and rerun it first." % (source.get("spec") or source).get("name"))
    spec = source.get("spec", source)
    if not isinstance(spec, dict) or not isinstance(spec.get("deployments"), list):
        raise Refused("from: no spec with deployments found (give the registered result of an ai_fleet task).")
    return spec


def promote(deployments, spec):
    """Copy the gated fields of ``spec``'s deployments (matched by short name) into ``deployments``."""
    source = dict((d.get("name"), d) for d in spec["deployments"])
    missing = [d["name"] for d in deployments if d["name"] not in source]
    if missing:
        raise Refused("from: the source environment %r has no deployment %s; it has: %s."
                      % (spec.get("name"), ", ".join(missing), ", ".join(sorted(source)) or "(none)"))
    for deployment in deployments:
        for field in PROMOTED_FIELDS:
            if deployment.get("placement") is not None and field in placement.OPTION_KEYS:
                continue  # a deployment with placement keeps this file's zones and GPU options
            if source[deployment["name"]].get(field) is not None:
                deployment[field] = copy.deepcopy(source[deployment["name"]][field])
        deployment["promoted_from"] = spec.get("name")


def declared_environment(params, default_zone):
    """The environment as the file says it, checked before any request: deployments, keys and models by zone."""
    env = params["name"]
    if not ENVIRONMENT_NAME.match(env or ""):
        raise Refused("name %r is not an environment name: 1 to 32 lowercase letters, digits and -, starting and"
                      " ending with a letter or digit (it prefixes every resource the environment owns)." % env)
    deployments = [dict((k, v) for k, v in d.items() if v is not None) for d in params["deployments"] or []]
    if params.get("from") is not None:
        promote(deployments, load_source(params["from"]))
    seen = set()
    for d in deployments:
        what = "deployments[%s]" % d.get("name")
        if not ENTRY_NAME.match(d.get("name") or ""):
            raise Refused("%s: name must be letters, digits, _ and -, starting and ending with a letter or digit." % what)
        d["full_name"] = "%s-%s" % (env, d["name"])
        if d.get("placement") is not None:
            given = [f for f in placement.OPTION_KEYS if d.get(f) is not None]
            if given:
                raise Refused("%s: placement replaces %s; give either placement or zone, gpu_type and gpu_count."
                              % (what, ", ".join(given)))
            try:
                d["placement"] = placement.parse(d["placement"])
            except Refused as exc:
                raise Refused("%s.%s" % (what, exc))
        else:
            d["zone"] = d.get("zone") or default_zone
        if (d.get("zone"), d["name"]) in seen:
            raise Refused("%s: declared twice in zone %s." % (what, d["zone"]))
        seen.add((d.get("zone"), d["name"]))
        missing = [f for f in ("model",) + (() if d.get("placement") else ("gpu_type", "gpu_count"))
                   if d.get(f) in (None, "")]
        if missing:
            raise Refused("%s: set %s (or promote it with from)." % (what, ", ".join(missing)))
        if not d.get("placement") and not 1 <= d["gpu_count"] <= MAX_GPU_COUNT:
            raise Refused("%s: gpu_count must be between 1 and %d, got %d." % (what, MAX_GPU_COUNT, d["gpu_count"]))
        d.setdefault("replicas", 1)
        if d["replicas"] < 0:
            raise Refused("%s: replicas must be 0 or more, got %d." % (what, d["replicas"]))
        if d.get("inference_engine_version") is not None and not VERSION_PATTERN.match(d["inference_engine_version"]):
            raise Refused("%s: inference_engine_version must be a version such as 0.28.0, got %r."
                          % (what, d["inference_engine_version"]))
        d.setdefault("inference_engine_parameters", [])
        for parameter in d["inference_engine_parameters"]:
            if not engine.flag(parameter).startswith("-"):
                raise Refused("%s: inference_engine_parameters entries must start with a flag such as"
                              " --max-model-len=4096, got %r." % (what, parameter))
    by_short = {}
    for d in deployments:
        by_short.setdefault(d["name"], []).append(d)
    for name, same in sorted(by_short.items()):
        if len(same) > 1 and any(d.get("placement") for d in same):
            raise Refused("deployments[%s]: a deployment with placement may land in any zone of its list; give it a name"
                          " no other deployment of the file has." % name)
    keys = [dict((k, v) for k, v in key.items() if v is not None) for key in params["api_keys"] or []]
    for key in keys:
        key["full_name"] = "%s-%s" % (env, key.get("name"))
        what = "api_keys[%s]" % key.get("name")
        if not ai_key_name(key["full_name"]):
            raise Refused("%s: %r is not a valid AI API key name: 1 to %d letters, digits, spaces and _'()-, starting"
                          " and ending with a letter or digit." % (what, key["full_name"], MAX_KEY_NAME))
        key.setdefault("scope", "public")
        if key["scope"] != "public":
            follows = [d for d in by_short.get(key["scope"], []) if d.get("placement")]
            if follows and key.get("zone"):
                raise Refused("%s: leave zone out: the key opens deployment %s, which has placement, and goes where it"
                              " lands." % (what, key["scope"]))
            scoped = follows or [d for d in by_short.get(key["scope"], []) if key.get("zone") in (None, d["zone"])]
            if len(scoped) != 1:
                raise Refused("%s: scope must be public or the name of one deployment of this file (%s), got %r%s."
                              % (what, ", ".join(sorted(by_short)) or "none", key["scope"],
                                 "; give zone, it is declared in several" if len(scoped) > 1 else ""))
            key["scope_deployment"] = scoped[0]["full_name"]
            key["follows"] = scoped[0]  # its zone, known once placement has chosen
        else:
            key["zone"] = key.get("zone") or default_zone
    declared = dict(name=env, prefix=env + "-", deployments=deployments, api_keys=keys,
                    model_options=[dict(m) for m in params["models"] or []])
    if not any(d.get("placement") for d in deployments):
        settle(declared)
    return declared


def settle(declared):
    """Once every deployment has its zone: the zones of the keys that open one, and the models each zone needs
    (a model is needed only in the zones its deployments run or land in)."""
    for key in declared["api_keys"]:
        if key.get("follows"):
            key["zone"] = key["follows"]["zone"]
    keys = declared["api_keys"]
    if len(set((k["zone"], k["full_name"]) for k in keys)) != len(keys):
        raise Refused("api_keys: a key name is declared twice in one zone.")
    models = {}
    deployments = declared["deployments"]
    for model in declared["model_options"]:
        for zone in model.get("zones") or sorted(set(d["zone"] for d in deployments if d["model"] == model["name"])):
            models[(zone, model["name"])] = model.get("huggingface_token")
    for d in deployments:
        models.setdefault((d["zone"], d["model"]), None)
    declared["models"] = models
    return declared


def declared_zones(declared, default_zone, extra=()):
    """Every zone the plan reads: each deployment's zone or placement zones, the keys', the models', ``extra``."""
    zones = set(extra or ())
    for d in declared["deployments"]:
        zones.update(placement.zones(d["placement"]) if d.get("placement") else [d["zone"]])
    zones.update(k["zone"] for k in declared["api_keys"] if k.get("zone"))
    zones.update(z for m in declared["model_options"] for z in m.get("zones") or ())
    return sorted(zones) or [default_zone]


def ai_key_name(name):
    return len(name) <= MAX_KEY_NAME and re.match(r"^[A-Za-z0-9](?:[A-Za-z0-9 _'()-]*[A-Za-z0-9])?$", name)


# ---------------------------------------------------------------------------------------------------------
# Reading the live environment

def parallel(calls):
    """Run the callables in threads; return their results in order (the first exception is raised)."""
    results, errors = [None] * len(calls), [None] * len(calls)

    def run(index):
        try:
            results[index] = calls[index]()
        except Exception as exc:  # pylint: disable=broad-except
            errors[index] = exc
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for error in errors:
        if error is not None:
            raise error
    return results


def epoch(iso_time):
    try:
        return calendar.timegm(time.strptime(iso_time[:19], "%Y-%m-%dT%H:%M:%S"))
    except (TypeError, ValueError):
        return None


class DetailCache:
    """Engine version and parameters of deployments as last read, keyed by id and ``updated-at`` (a local file).

    A list entry whose ``updated-at`` is the one cached, and that was read at least ``CACHE_MARGIN`` s after
    that time, has not changed since: its GET is skipped. Holds no secret. ``path`` None: no cache.
    """

    DETAIL_KEYS = ("inference-engine-version", "inference-engine-parameters", "state-details")

    def __init__(self, path):
        self.path = path
        self.entries = {}
        self.lock = threading.Lock()
        if path and os.path.exists(path):
            try:
                with open(path) as handle:
                    self.entries = json.load(handle)
            except (IOError, OSError, ValueError):
                self.entries = {}

    def lookup(self, listed):
        entry = self.entries.get(listed.get("id"))
        updated = epoch(listed.get("updated-at"))
        if not entry or entry["updated-at"] != listed.get("updated-at") or updated is None:
            return None
        if entry["read-at"] < updated + CACHE_MARGIN:
            return None
        return dict(listed, **entry["detail"])

    def record(self, deployment):
        if deployment and deployment.get("id") and "inference-engine-version" in deployment:
            with self.lock:
                self.entries[deployment["id"]] = {
                    "updated-at": deployment.get("updated-at"), "read-at": time.time(),
                    "detail": dict((k, deployment.get(k)) for k in self.DETAIL_KEYS if k in deployment)}

    def save(self, keep_ids):
        if not self.path:
            return
        entries = dict((k, v) for k, v in self.entries.items() if k in keep_ids)
        try:
            directory = os.path.dirname(self.path)
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o700)
            temporary = "%s.%d.tmp" % (self.path, os.getpid())
            with open(temporary, "w") as handle:
                json.dump(entries, handle)
            os.replace(temporary, self.path)
        except (IOError, OSError):
            pass  # the cache only saves reads


def cache_path(cache_dir, api_url, env):
    cache_dir = cache_dir or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"),
                                          "inferops.exoscale")
    digest = hashlib.sha256(("%s|%s" % (api_url, env)).encode("utf-8")).hexdigest()[:16]
    return os.path.join(os.path.expanduser(cache_dir), "fleet-%s-%s.json" % (env, digest))


def read_zone(client, prefix, cache):
    """One list per kind; then a GET of each deployment under the prefix whose detail is not cached."""
    models, listed, keys = parallel([lambda: ai.MODEL.list(client), lambda: ai.DEPLOYMENT.list(client),
                                     lambda: ai.API_KEY.list(client)])
    listed = [d for d in listed if (d.get("name") or "").startswith(prefix)]
    known = [cache.lookup(d) for d in listed]
    missing = [d for d, k in zip(listed, known) if k is None]
    fetched = {}
    for start in range(0, len(missing), DETAIL_THREADS):
        batch = missing[start:start + DETAIL_THREADS]
        for d, full in zip(batch, parallel([lambda d=d: ai.DEPLOYMENT.get(client, d["id"]) for d in batch])):
            if full:
                cache.record(full)
                fetched[d["id"]] = full
    deployments = [k or fetched.get(d["id"]) for d, k in zip(listed, known)]
    return dict(models=models, deployments=[d for d in deployments if d],
                api_keys=[k for k in keys if (k.get("name") or "").startswith(prefix)])


# ---------------------------------------------------------------------------------------------------------
# The plan

class Driver(ResourceModule):
    """The single-resource driver of ``ai_deployment``, ``ai_model`` and ``ai_api_key`` for one resource of the
    environment: its diff (``decide``) and its writes (a create that never duplicates and keeps the oldest, the
    PATCH and scale steps, the waits), so the fleet has no copy of them. No AnsibleModule: ``warn`` and the
    client are the fleet's."""

    def __init__(self, kind, params=None, client=None, deadline=None, wait=True, warn=None, on_id=None):
        self.resource = kind
        super(Driver, self).__init__(params=dict(params or {}, recreate=True, wait=wait), client=client, warn=warn)
        if deadline is not None:
            self.deadline = deadline
        self.on_id = on_id  # told the id of a created resource before its wait (a key scoped to it need not wait)

    def failure(self, resource):
        if self.resource is ai.DEPLOYMENT:
            return ai.deployment_failed(self.client, resource)
        if self.resource is ai.MODEL:
            return ResourceFailed(ai.model_failed_message(resource), resource=resource)
        return super(Driver, self).failure(resource)

    def wait_ready(self, resource_id):
        if self.on_id:
            self.on_id(resource_id)
        if self.resource is ai.DEPLOYMENT:
            return ai.wait_deployment_ready(self.client, resource_id, self.deadline, self.history)[0]
        return super(Driver, self).wait_ready(resource_id)


def deployment_plan(live, wanted):
    """The driver's plan for one declared deployment (``decide``: changes, PATCH, steps, replace)."""
    return Driver(ai.DEPLOYMENT, dict(wanted, name=wanted["full_name"])).decide(live)


def gpus(deployment):
    """``{family: GPUs}`` of a deployment (API or option keys)."""
    if not deployment:
        return {}
    family = deployment.get("gpu-type") or deployment.get("gpu_type")
    count = deployment.get("gpu-count") or deployment.get("gpu_count") or 0
    replicas = deployment.get("replicas")
    return {family: count * (0 if replicas is None else replicas)}


def gpu_delta(before, after):
    delta = {}
    for side, sign in ((before, -1), (after, 1)):
        for family, count in gpus(side).items():
            delta[family] = delta.get(family, 0) + sign * count
    return dict((f, n) for f, n in delta.items() if n)


def describe(changes):
    return "; ".join("%s: %s -> %s" % (option, json.dumps(old), json.dumps(new))
                     for option, (old, new) in sorted(changes.items()))


def stays(d, live, placed):
    """Stickiness: a deployment with placement that runs in a zone of its list stays there (its zone, family and
    count become the declared ones; ``placed`` gets the reasons). False when it runs in none of them."""
    found = [(zone, oldest_of(named)) for zone, named in (
        (zone, [x for x in live[zone]["deployments"] if x.get("name") == d["full_name"]])
        for zone in placement.zones(d["placement"])) if named]
    if len(found) > 1:
        raise Refused("deployments[%s]: %r exists in several zones of its placement: %s. Delete the ones you do not want"
                      " (prune them by listing only one, or ai_deployment state=absent with that zone), then run again."
                      % (d["name"], d["full_name"], ", ".join("%s (id %s)" % (z, x.get("id")) for z, x in found)))
    if not found:
        return False
    zone, current = found[0]
    kept = placement.kept(d["placement"], current, zone)
    d.update(kept["chosen"] or next(o for o in d["placement"] if o["zone"] == zone))
    placed[d["full_name"]] = kept
    return True


def plan_gpus(actions):
    """``{family: GPUs}`` that the actions add (negative: free), refused ones left out."""
    total = {}
    for action in actions:
        if not action.get("refused"):
            for family, count in action["gpus"].items():
                total[family] = total.get(family, 0) + count
    return total


def plan_environment(declared, live, prune, recreate, facts=None):
    """The actions that make the live environment (``{zone: read_zone(...)}``) what ``declared`` says.
    ``facts`` (``Facts``) reads what placement needs to choose, and only then."""
    actions, drift, unmanaged = [], [], []

    def add(action, kind, name, zone, reason, live_item=None, wanted=None, changes=None, **extra):
        actions.append(dict(action=action, kind=kind, name=name, zone=zone, reason=reason, live=live_item,
                            wanted=wanted, changes=changes or {}, id=(live_item or {}).get("id"),
                            gpus=gpu_delta(live_item if kind == "deployment" and action != "create" else None,
                                           wanted if kind == "deployment" and action != "delete" else None)
                            if kind == "deployment" else {}, **extra))

    declared_names = set()

    def plan_deployment(d):
        zone, name = d["zone"], d["full_name"]
        declared_names.add((zone, name))
        named = [x for x in live[zone]["deployments"] if x.get("name") == name]
        current = oldest_of(named) if named else None
        if current is None:
            add("create", "deployment", name, zone, "absent", wanted=d)
            return
        step = deployment_plan(current, d)
        changes = dict((o, change) for o, change in step.changes.items() if o != "state")
        if changes:
            drift.append(dict(kind="deployment", name=name, zone=zone, id=current.get("id"), fields=dict(
                (o, dict(live=old, declared=new)) for o, (old, new) in sorted(changes.items()))))
        if step.action == "replace":
            immutable = sorted(o for o in changes if ai.DEPLOYMENT.field(o).change == IMMUTABLE)
            reason = describe(dict((o, changes[o]) for o in immutable)) if immutable else "in state error"
            refused = None if recreate else ("cannot change %s in place; set recreate: true to replace it (new URL and"
                                             " API key)" % ", ".join(immutable) if immutable else
                                             "the deployment is in state error (%s); set recreate: true to replace it"
                                             % short(current.get("state-details") or "no details"))
            add("replace", "deployment", name, zone, reason, current, d, changes, refused=refused)
        elif step.writes:
            add(step.action, "deployment", name, zone, describe(changes), current, d, changes, step=step)

    for d in declared["deployments"]:
        if d["replicas"] < 1 and not any(x.get("name") == d["full_name"] for zone in (
                placement.zones(d["placement"]) if d.get("placement") else [d["zone"]]) for x in live[zone]["deployments"]):
            raise Refused("deployments[%s]: replicas must be at least 1 to create it (scale to 0 afterwards)." % d["name"])
    placed = {}
    waiting = [d for d in declared["deployments"] if d.get("placement") and not stays(d, live, placed)]
    for d in declared["deployments"]:
        if d not in waiting:
            plan_deployment(d)
    refusals = []
    for d in waiting:
        # Chosen after every other action, with the GPUs they add or free: the quota counts the whole plan.
        planned = plan_gpus(actions)
        choice = placement.choose(d["placement"], facts.for_deployment(d, planned), facts.skip)
        placed[d["full_name"]] = choice
        if choice["chosen"] is None:
            refusals.append("deployments[%s]: %s" % (d["name"], placement.refusal(choice["passed_over"])))
            continue
        d.update(choice["chosen"])
        plan_deployment(d)
        actions[-1].update(placement=choice, planned=planned)
    if refusals:
        raise Refused(" | ".join(refusals), details=dict(plan=dict(placement=placed)))
    settle(declared)
    model_actions = []
    for (zone, name), token in sorted(declared["models"].items()):
        try:
            model = pick_one(live[zone]["models"], "model", name=name)
        except AmbiguousName as exc:
            raise Refused("model %s in %s: %s" % (name, zone, exc))
        if model is None:
            model_actions.append(dict(action="create", kind="model", name=name, zone=zone, reason="absent", live=None,
                                      wanted=dict(name=name, huggingface_token=token), changes={}, id=None, gpus={}))
        elif ai.MODEL.is_failed(model):
            raise Refused(ai.model_failed_message(model) + " (zone %s; the environment needs it)" % zone)
    actions[:0] = model_actions
    for zone in sorted(live):
        for item in live[zone]["deployments"]:
            if (zone, item.get("name")) not in declared_names or item is not oldest_named(live[zone]["deployments"], item):
                entry = dict(kind="deployment", name=item.get("name"), zone=zone, id=item.get("id"))
                unmanaged.append(entry)
                if prune:
                    add("delete", "deployment", item["name"], zone, "not in the file (prune)", item)
    for key in declared["api_keys"]:
        zone = key["zone"]
        named = [x for x in live[zone]["api_keys"] if x.get("name") == key["full_name"]]
        current = oldest_of(named) if named else None
        if current is None:
            add("create", "api_key", key["full_name"], zone, "absent", wanted=key)
            continue
        scope_action = next((a for a in actions if a["kind"] == "deployment" and a["zone"] == zone
                             and a["name"] == key.get("scope_deployment")), None)
        if key["scope"] == "public":
            scope_ok = current.get("scope") == "public"
        elif scope_action and scope_action["action"] in ("create", "replace") and not scope_action.get("refused"):
            scope_ok = False  # the deployment it opens gets a new id
        else:
            scoped = next((x for x in live[zone]["deployments"] if x.get("name") == key["scope_deployment"]), {})
            scope_ok = current.get("scope") == scoped.get("id")
        if not scope_ok:
            changes = {"scope": (current.get("scope"), key["scope"])}
            drift.append(dict(kind="api_key", name=key["full_name"], zone=zone, id=current.get("id"),
                              fields={"scope": dict(live=current.get("scope"), declared=key["scope"])}))
            add("replace", "api_key", key["full_name"], zone, describe(changes), current, key, changes,
                refused=None if recreate else "an API key's scope cannot change; set recreate: true to replace it"
                                              " (the key gets a new value)")
    declared_keys = set((k["zone"], k["full_name"]) for k in declared["api_keys"])
    for zone in sorted(live):
        for item in live[zone]["api_keys"]:
            if (zone, item.get("name")) not in declared_keys or item is not oldest_named(live[zone]["api_keys"], item):
                unmanaged.append(dict(kind="api_key", name=item.get("name"), zone=zone, id=item.get("id")))
                if prune:
                    add("delete", "api_key", item["name"], zone, "not in the file (prune)", item)
    return dict(actions=actions, drift=drift, unmanaged=unmanaged, placement=placed)


def short(text, limit=120):
    text = text.strip().splitlines()[0] if text.strip() else text
    return text if len(text) <= limit else text[:limit - 3] + "..."


def oldest_named(items, item):
    return oldest_of([x for x in items if x.get("name") == item.get("name")])


def gpu_summary(plan, live):
    """``{zone: {family: {before, after, delta}}}`` of the environment's GPUs."""
    summary = {}
    for zone, content in live.items():
        for d in content["deployments"]:
            for family, count in gpus(d).items():
                entry = summary.setdefault(zone, {}).setdefault(family, dict(before=0, after=0, delta=0))
                entry["before"] += count
                entry["after"] += count
    for action in plan["actions"]:
        if action.get("refused"):
            continue
        for family, count in action["gpus"].items():
            entry = summary.setdefault(action["zone"], {}).setdefault(family, dict(before=0, after=0, delta=0))
            entry["after"] += count
            entry["delta"] += count
    return summary


def environment_cost(plan, live, prices):
    """``{currency, per_hour, before, after}`` at the user's prices."""
    before = [d for content in live.values() for d in content["deployments"]]
    after = list(before)
    for action in plan["actions"]:
        if action["kind"] != "deployment" or action.get("refused"):
            continue
        if action["live"] is not None:
            after = [d for d in after if d is not action["live"]]
        if action["action"] != "delete":
            after.append(action["wanted"])
    unpriced = sorted(set(d.get("gpu-type") or d.get("gpu_type") for d in before + after
                          if cost.deployment_cost(d, prices) is None))
    if unpriced:
        raise Refused("prices.per_gpu_hour has no price for %s, which the environment uses; it has: %s."
                      % (", ".join(unpriced), ", ".join(sorted(prices["per_gpu_hour"]))))
    before_cost, after_cost = round(cost.cost_per_hour(before, prices), 2), round(cost.cost_per_hour(after, prices), 2)
    return dict(currency=prices["currency"], per_hour=after_cost, before=before_cost, after=after_cost)


# ---------------------------------------------------------------------------------------------------------
# Checks before any write

class Facts:
    """What the checks and placement read, each at most once per run and only when a check needs it: each zone's
    instance types, the organization's GPU quotas, each model's size and config.json from the Hub."""

    def __init__(self, clients, params, warn):
        self.clients = clients
        self.params = params
        self.warn = warn
        self.skip = set(params.get("preflight_skip") or ())
        self.lock = threading.Lock()
        self.read = {}

    def once(self, key, fetch):
        with self.lock:
            if key not in self.read:
                self.read[key] = fetch()
            return self.read[key]

    def instance_types(self, zone):
        return self.once(("instance-types", zone), lambda: ai.list_instance_types(self.clients[zone]))

    def quotas(self):
        def fetch():
            try:
                return ai.gpu_quota(self.clients[sorted(self.clients)[0]])
            except ExoscaleError as exc:
                self.warn("GPU quota check skipped: the quotas could not be read (%s)." % exc)
                return {}
        return self.once("quotas", fetch)

    def hub(self, token):
        return HubClient(self.params.get("huggingface_api_url"), token=token, timeout=10,
                         validate_certs=self.params.get("validate_certs", True))

    def model_figures(self, name):
        return self.once(("hub", name), lambda: placement.model_figures(
            lambda: self.hub(self.params.get("huggingface_token")), name, self.skip, self.warn))

    def for_deployment(self, d, planned):
        """placement.choose's facts for ``d``, with the GPUs the rest of the plan adds (``planned``)."""
        weights, config = self.model_figures(d["model"]) if "fit" not in self.skip else (None, None)
        instance_types = {} if "gpu_type" in self.skip else dict(
            (zone, self.instance_types(zone)) for zone in placement.zones(d["placement"]))
        return dict(instance_types=instance_types, quotas={} if "quota" in self.skip else self.quotas(), replicas=d["replicas"],
                    parameters=d.get("inference_engine_parameters"), weights=weights, config=config, planned=planned)


def check_plan(plan, facts, live, params, warn):
    """Preflight of every write of the plan (GPU family, engine flags, model fit, Hub), then the GPU quota. The
    creates that placement chose were checked for family and fit when they were chosen."""
    skip = set(params.get("preflight_skip") or ())
    clients = facts.clients
    writes = [a for a in plan["actions"] if not a.get("refused")]
    for zone in sorted(set(a["zone"] for a in writes)):
        client = clients[zone]
        creates = [a for a in writes if a["zone"] == zone and a["kind"] == "deployment"
                   and a["action"] in ("create", "replace") and not a.get("placement")]
        if creates and "gpu_type" not in skip:
            instance_types = facts.instance_types(zone)
            for action in creates:
                refuse_for(action, lambda a=action: preflight.check_gpu_type(instance_types, a["wanted"]["gpu_type"]))
        helps = {}
        for action in writes:
            if action["zone"] != zone or action["kind"] != "deployment" or action["action"] == "delete":
                continue
            wanted = action["wanted"]
            engine_changed = action["action"] in ("create", "replace") or set(action["changes"]) & set(
                ("inference_engine_version", "inference_engine_parameters"))
            if engine_changed and "engine_parameters" not in skip and (
                    wanted.get("inference_engine_parameters") or wanted.get("inference_engine_version")):
                version = wanted.get("inference_engine_version") or (action["live"] or {}).get("inference-engine-version")
                if version not in helps:
                    helps[version] = preflight.fetch_engine_help(client, version)
                refuse_for(action, lambda a=action, v=version: engine.check(
                    helps[v], v, a["wanted"]["inference_engine_parameters"]))
        if creates and "fit" not in skip:
            hub = facts.hub(params.get("huggingface_token"))
            configs = {}
            for action in creates:
                wanted = action["wanted"]
                model = pick_one(live[zone]["models"], "model", name=wanted["model"])
                if not model or not model.get("model-size"):
                    continue
                if wanted["model"] not in configs:
                    configs[wanted["model"]] = preflight.fetch_config(hub, wanted["model"], warn)
                refuse_for(action, lambda a=action, m=model: fit.check_fit(
                    a["wanted"]["gpu_type"], a["wanted"]["gpu_count"], m.get("model-size"),
                    a["wanted"]["inference_engine_parameters"], configs[a["wanted"]["model"]], warn,
                    model_name=a["wanted"]["model"]))
    if "huggingface" not in skip:
        for action in writes:
            if action["kind"] == "model" and action["action"] == "create":
                token = action["wanted"]["huggingface_token"]
                hub = facts.hub(token)
                refuse_for(action, lambda a=action, h=hub, t=token: preflight.check_huggingface_model(h, a["name"], t, warn))
    needed = {}
    for action in writes:
        for family, count in action["gpus"].items():
            needed[family] = needed.get(family, 0) + count
    adding = dict((f, n) for f, n in needed.items() if n > 0)
    quota = {}
    if adding and "quota" not in skip:
        quotas = facts.quotas()
        for family, count in sorted(adding.items()):
            if family in quotas:
                quota[family] = preflight.check_quota(quotas[family], family, count,
                                                      what="the plan of environment %r" % params["name"])
    return quota


def refuse_for(action, check):
    try:
        return check()
    except Refused as exc:
        raise Refused("%s %s (%s): %s" % (action["kind"].replace("_", " "), action["name"], action["zone"], exc),
                      details=exc.details)


# ---------------------------------------------------------------------------------------------------------
# Apply

class Job:
    """One action run in its own thread once the jobs it needs are done (``needs``) or know their id (``ids``)."""

    def __init__(self, action, needs=(), ids=()):
        self.action = action
        self.needs = list(needs)
        self.ids = list(ids)
        self.done = threading.Event()
        self.id_known = threading.Event()
        self.error = None
        self.wrote = False
        self.result = None
        self.value = None  # an API key's value, from the run that creates it
        self.drivers = []  # the drivers of its writes


class Applier:
    def __init__(self, plan, clients, live, deadline, wait, warn, facts=None, tokens=None):
        self.clients = clients
        self.live = live
        self.deadline = deadline
        self.wait = wait
        self.warn = warn
        self.facts = facts
        self.tokens = tokens or {}  # {model name: Hugging Face token} for a model created after a 412 moved zones
        self.models = {}  # (zone, model name): its id, made ready by this run
        self.model_lock = threading.Lock()
        self.jobs = []
        by_resource = {}
        for action in plan["actions"]:
            job = Job(action)
            self.jobs.append(job)
            by_resource[(action["kind"], action["zone"], action["name"])] = job
        for job in self.jobs:
            action = job.action
            if action["kind"] == "deployment" and action["action"] in ("create", "replace"):
                model_job = by_resource.get(("model", action["zone"], action["wanted"]["model"]))
                job.needs += [model_job] if model_job else []
            if action["kind"] == "api_key" and action["action"] in ("create", "replace") and action["wanted"].get(
                    "scope_deployment"):
                scoped = by_resource.get(("deployment", action["zone"], action["wanted"]["scope_deployment"]))
                job.ids += [scoped] if scoped else []
            if action["kind"] == "deployment" and any(n > 0 for n in action["gpus"].values()):
                # GPUs this plan frees in the family are freed first: the quota check counted on them.
                job.needs += [other for other in self.jobs if other.action["kind"] == "deployment" and any(
                    n < 0 and f in action["gpus"] for f, n in other.action["gpus"].items()) and other is not job]

    def run(self):
        threads = [threading.Thread(target=self.run_job, args=(job,)) for job in self.jobs
                   if not job.action.get("refused")]
        for job in self.jobs:
            if job.action.get("refused"):
                job.error = job.action["refused"] + "."
                job.done.set()
                job.id_known.set()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return self.jobs

    def run_job(self, job):
        try:
            for other in job.needs:
                other.done.wait()
            for other in job.ids:
                other.id_known.wait()
            blocked = [o for o in job.needs + job.ids if o.error]
            if blocked:
                raise Refused("not attempted: %s" % "; ".join(
                    "%s %s failed" % (o.action["kind"], o.action["name"]) for o in blocked))
            action = job.action
            for other in job.ids:
                action["zone"] = other.action["zone"]  # a key goes where the deployment it opens landed
            getattr(self, "%s_%s" % (action["action"], action["kind"]))(job, self.clients[action["zone"]])
        except (Refused, AmbiguousName, ExoscaleError) as exc:
            job.error = str(exc)
            job.result = getattr(exc, "resource", None) or job.result  # a deployment that turned error
            if isinstance(exc, ExoscaleError) and (exc.uncertain or exc.operation_id):
                job.wrote = True
        except Exception as exc:  # pylint: disable=broad-except
            job.error = "%s: %s" % (type(exc).__name__, exc)  # one resource's surprise must not stop the others
        finally:
            job.wrote = job.wrote or any(driver.wrote for driver in job.drivers)
            job.id_known.set()
            job.done.set()

    def driver(self, job, kind, client, wait=None):
        """A driver for one write of ``job``; its writes count as the job's."""
        def id_known(resource_id):
            if job.result is None:
                job.result = {"id": resource_id, "name": job.action["name"]}
            job.id_known.set()
        driver = Driver(kind, client=client, deadline=self.deadline, wait=self.wait if wait is None else wait,
                        warn=self.warn, on_id=id_known if kind.kind == job.action["kind"] else None)
        job.drivers.append(driver)
        return driver

    # Models

    def create_model(self, job, client):
        wanted = dict(name=job.action["name"], huggingface_token=job.action["wanted"]["huggingface_token"])
        job.result = self.new_model(job, client, wanted)

    def new_model(self, job, client, wanted):
        # Its deployments need it ready, so this waits even with wait=false.
        driver = self.driver(job, ai.MODEL, client, wait=True)
        step = Plan("create", wanted=wanted)
        step.body = driver.create_body(step)
        return driver.create(step)

    # Deployments

    def model_id(self, job, client):
        name = job.action["wanted"]["model"]
        for other in job.needs:
            if other.action["kind"] == "model" and other.action["zone"] == job.action["zone"]:
                return other.result["id"]
        with self.model_lock:
            key = (job.action["zone"], name)
            if key not in self.models:
                model = pick_one(self.live[job.action["zone"]]["models"], "model", name=name)
                if model is None:  # a create that answered 412 moved the deployment to a zone without the model
                    model = self.new_model(job, client, dict(name=name, huggingface_token=self.tokens.get(name)))
                elif not ai.MODEL.is_ready(model):
                    model = ai.MODEL.wait_ready(client, model["id"], self.deadline, failure=lambda m: ResourceFailed(
                        ai.model_failed_message(m), resource=m))[0]
                self.models[key] = model["id"]
            return self.models[key]

    def create_deployment(self, job, client):
        action = job.action
        current = action["live"] if action["action"] == "replace" else None
        while True:
            driver = self.driver(job, ai.DEPLOYMENT, client)
            wanted = dict(action["wanted"], name=action["name"], model=self.model_id(job, client))
            step = Plan(action["action"], current, wanted)
            step.body = driver.create_body(step)
            try:
                job.result = driver.apply(step)
                return
            except ExoscaleError as exc:
                choice = action.get("placement")
                reason = placement.refused_create(exc, action["zone"]) if choice and not driver.wrote else None
                if reason is None:
                    raise
            # Not enough GPUs in that zone (a 412 creates nothing): the next option that passes, as ai_deployment.
            following = placement.after_refusal(
                action["wanted"]["placement"], choice["chosen"], reason,
                self.facts.for_deployment(action["wanted"], action.get("planned") or {}), choice["passed_over"],
                self.facts.skip)
            choice["chosen"] = following
            if following is None:
                raise Refused(placement.refusal(choice["passed_over"]))
            action["wanted"].update(following)
            action.update(zone=following["zone"], gpus=gpu_delta(None, action["wanted"]))
            client = self.clients[following["zone"]]

    replace_deployment = create_deployment

    def update_deployment(self, job, client):
        job.result = self.driver(job, ai.DEPLOYMENT, client).apply(job.action["step"])

    scale_deployment = update_deployment

    def delete_deployment(self, job, client):
        self.driver(job, ai.DEPLOYMENT, client).apply(Plan("delete", job.action["live"]))

    # Organization API keys

    def create_api_key(self, job, client):
        wanted = job.action["wanted"]
        scope = wanted["scope"]
        if scope != "public":
            scoped = next((o for o in job.ids), None)
            scope = scoped.result["id"] if scoped else next(
                d["id"] for d in self.live[job.action["zone"]]["deployments"] if d.get("name") == wanted["scope_deployment"])
        if job.action["action"] == "replace":
            self.delete_api_key(job, client)
        driver = self.driver(job, ai.API_KEY, client)
        step = Plan("create", wanted=dict(name=job.action["name"], scope=scope))
        step.body = driver.create_body(step)
        key = dict(driver.create(step))
        job.value = key.pop("value", None)  # only the answer of this run's own create has it
        if job.value is None:
            self.warn("The value of AI API key %r is unknown (its create's answer was lost, or a concurrent run made"
                      " it): delete the key and run again to get a new value." % job.action["name"])
        job.result = key

    replace_api_key = create_api_key

    def delete_api_key(self, job, client):
        self.driver(job, ai.API_KEY, client).apply(Plan("delete", job.action["live"]))


# ---------------------------------------------------------------------------------------------------------
# Views: plan, diff, environment, spec

def public_action(action):
    shown = dict((k, action[k]) for k in ("action", "kind", "name", "zone", "reason") if action.get(k) is not None)
    if action.get("id"):
        shown["id"] = action["id"]
    if action["changes"]:
        shown["changes"] = dict((o, dict(before=old, after=new)) for o, (old, new) in sorted(action["changes"].items()))
    if action["gpus"]:
        shown["gpus"] = action["gpus"]
    if action.get("refused"):
        shown["refused"] = action["refused"]
    return shown


def view(item, kind):
    """What the diff and the environment show of a resource: no secret (a key's value is never in it)."""
    if item is None:
        return None
    if kind == "api_key":
        return dict(id=item.get("id"), scope=item.get("scope"))
    if kind == "model":
        return dict(id=item.get("id"), state=item.get("state"))
    shown = dict(id=item.get("id"), state=item.get("state"),
                 model=(item.get("model") or {}).get("name") if isinstance(item.get("model"), dict) else item.get("model"))
    for option in ("gpu_type", "gpu_count", "replicas", "inference_engine_version", "inference_engine_parameters"):
        value = item.get(option.replace("_", "-"), item.get(option))
        if value is not None:
            shown[option] = value
    if item.get("deployment-url"):
        shown["deployment_url"] = item["deployment-url"]
    return shown


def environment_views(live, declared):
    before = dict(deployments={}, api_keys={}, models={})
    for zone, content in sorted(live.items()):
        for d in content["deployments"]:
            before["deployments"]["%s/%s" % (zone, d["name"])] = view(d, "deployment")
        for k in content["api_keys"]:
            before["api_keys"]["%s/%s" % (zone, k["name"])] = view(k, "api_key")
        for (model_zone, name) in declared["models"]:
            model = pick_one(content["models"], "model", name=name) if model_zone == zone else None
            if model:
                before["models"]["%s/%s" % (zone, name)] = view(model, "model")
    return before


def predicted(before, plan):
    after = copy.deepcopy(before)
    plural = dict(deployment="deployments", api_key="api_keys", model="models")
    for action in plan["actions"]:
        if action.get("refused"):
            continue
        place, key = after[plural[action["kind"]]], "%s/%s" % (action["zone"], action["name"])
        if action["action"] == "delete":
            place.pop(key, None)
            continue
        shown = dict(place.get(key) or {})
        if action["action"] in ("create", "replace"):
            shown = dict(id="(new)", state="ready" if action["kind"] != "api_key" else None)
            shown = dict((k, v) for k, v in shown.items() if v is not None)
        wanted = action["wanted"]
        if action["kind"] == "deployment":
            shown.update((o, wanted[o]) for o in ("model", "gpu_type", "gpu_count", "replicas",
                                                  "inference_engine_version", "inference_engine_parameters")
                         if wanted.get(o) is not None)
        elif action["kind"] == "api_key":
            shown["scope"] = wanted["scope"] if wanted["scope"] == "public" else wanted["scope_deployment"]
        place[key] = shown
    return after


def spec_of(declared, final):
    """What promotion copies into another environment: each deployment's exact settings as they run now."""
    deployments = []
    for d in declared["deployments"]:
        live = final.get((d["zone"], d["full_name"])) or {}
        entry = dict(name=d["name"], zone=d["zone"], replicas=d["replicas"])
        for option in PROMOTED_FIELDS:
            value = view(live, "deployment").get(option) if live else None
            entry[option] = value if value is not None else d.get(option)
        deployments.append(entry)
    return dict(name=declared["name"], deployments=deployments)


# ---------------------------------------------------------------------------------------------------------
# The task

def zone_clients(module, zones):
    """``({zone: client}, the task's zone)``: one client per zone; the API URL must reach each zone."""
    try:
        default_zone = resolve_settings(module.params)["zone"]
    except ConfigError as exc:
        raise Refused(str(exc))
    clients = dict((zone, client_from_module(module, zone=None if zone == default_zone else zone)) for zone in zones)
    if len(zones) > 1 and len(set(c.base_url for c in clients.values())) == 1:
        raise Refused("The environment spans zones %s, but the API URL %s serves one zone: put {zone} into api_url"
                      " (or EXOSCALE_API_ENDPOINT), for example https://api-{zone}.exoscale.com/v2."
                      % (", ".join(zones), clients[zones[0]].base_url))
    return clients, default_zone


def run(module):
    """Plan (and unless check mode, apply) the environment; exit or fail the module with the result."""
    params = module.params
    result = dict(changed=False)
    deadline = Deadline(params["wait_timeout"])
    try:
        prices = params["prices"]
        if prices is not None:
            cost.validate_prices(prices)
        if params["max_cost_per_hour"] is not None and prices is None:
            raise Refused("max_cost_per_hour needs prices (per_gpu_hour of each GPU family the environment uses).")
        clients, default_zone = zone_clients(module, [])
        declared = declared_environment(params, default_zone)
        zones = declared_zones(declared, default_zone, params["zones"])
        clients, default_zone = zone_clients(module, zones)
        facts = Facts(clients, params, module.warn)
        cache = DetailCache(cache_path(params["cache_dir"], clients[zones[0]].base_url, declared["name"])
                            if params["cache"] else None)
        live = dict(zip(zones, parallel([lambda z=z: read_zone(clients[z], declared["prefix"], cache) for z in zones])))
        plan = plan_environment(declared, live, params["prune"], params["recreate"], facts)
        plan["gpus"] = gpu_summary(plan, live)
        if prices is not None:
            plan["cost"] = result["cost"] = environment_cost(plan, live, prices)
            if params["max_cost_per_hour"] is not None and plan["cost"]["after"] > params["max_cost_per_hour"]:
                raise Refused("The environment would cost %.2f %s per hour after this plan (now %.2f), above"
                              " max_cost_per_hour %.2f: lower replicas or gpu_count, or raise the cap. Nothing was"
                              " changed." % (plan["cost"]["after"], prices["currency"], plan["cost"]["before"],
                                             params["max_cost_per_hour"]),
                              details=dict(plan=public_plan(plan)))
        plan["quota"] = check_plan(plan, facts, live, params, module.warn)
    except Refused as exc:
        module.fail_json(msg=str(exc), **dict(result, **exc.details))
    except ExoscaleError as exc:
        module.fail_json(msg=str(exc), api_error=exc.details(), **result)
    result["plan"] = public_plan(plan)
    before = environment_views(live, declared)
    after = predicted(before, plan)
    final = dict(((zone, d["name"]), d) for zone, content in live.items() for d in content["deployments"])
    writes = [a for a in plan["actions"] if not a.get("refused")]
    failed = []
    if module.check_mode:
        result["changed"] = bool(writes)
        failed = [dict(public_action(a), error=a["refused"]) for a in plan["actions"] if a.get("refused")]
    else:
        tokens = dict((name, token) for (zone, name), token in declared["models"].items() if token)
        jobs = Applier(plan, clients, live, deadline, params["wait"], module.warn, facts, tokens).run()
        result["plan"] = public_plan(plan)  # with where a create that answered 412 landed
        result["changed"] = any(job.wrote for job in jobs)
        result["done"] = [public_action(j.action) for j in jobs if j.error is None]
        failed = [dict(public_action(j.action), error=j.error) for j in jobs if j.error is not None]
        values = dict(("%s/%s" % (j.action["zone"], j.action["name"]), j.value) for j in jobs if j.value)
        if values:
            result["api_key_values"] = values
        for job in jobs:
            key = (job.action["zone"], job.action["name"])
            if job.action["kind"] == "deployment":
                if job.action["action"] == "delete" and job.error is None:
                    final.pop(key, None)
                elif job.result and job.result.get("state"):
                    final[key] = job.result
                    cache.record(job.result)
        result["duration"] = round(deadline.elapsed(), 2)
        after = environment_views(dict((z, dict(live[z], deployments=[d for (dz, n), d in final.items() if dz == z]))
                                       for z in zones), declared)
        for job in jobs:
            if job.action["kind"] != "deployment" and job.error is None:
                place = after["api_keys" if job.action["kind"] == "api_key" else "models"]
                key = "%s/%s" % (job.action["zone"], job.action["name"])
                if job.action["action"] == "delete":
                    place.pop(key, None)
                elif job.result:
                    place[key] = view(job.result, job.action["kind"])
    cache.save(set(d.get("id") for d in final.values()))
    result["diff"] = dict(before=before, after=after)
    result["environment"] = after
    result["spec"] = spec_of(declared, final)
    if failed:
        result["failed_actions"] = failed
        module.fail_json(msg="%d of %d action(s) of environment %r failed (the others were applied; run again to"
                             " finish): %s" % (len(failed), len(plan["actions"]), declared["name"],
                                               " | ".join("%s %s %s (%s): %s" % (f["action"], f["kind"], f["name"],
                                                                                 f["zone"], f["error"]) for f in failed)),
                         **result)
    module.exit_json(**result)


def public_plan(plan):
    shown = dict(actions=[public_action(a) for a in plan["actions"]], drift=plan["drift"], unmanaged=plan["unmanaged"])
    for key in ("gpus", "quota", "cost", "placement"):
        if key in plan and (plan[key] or key != "placement"):
            shown[key] = plan[key]
    return shown
