# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The rollout role's plan: from the deployments of the zone alone, where a rollout of ``name`` stands and
what it does next.

The names carry the whole state: the live deployment is named ``<name>``, the candidate of the wanted
settings ``<name>--candidate-<hash>``, the old one that a rollout renamed away ``<name>--retired-<hash>``.
``validate`` refuses inputs that cannot work before anything is read; ``plan`` is a pure function of the
inputs and the deployment list, so check mode and the run compute the same plan from the same reads.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import json
import re

from ansible_collections.inferops.exoscale.plugins.module_utils.benchmark import (
    MAX_CONCURRENCY, MAX_DURATION, MAX_REQUESTS, THRESHOLDS, threshold_problems,
)
from ansible_collections.inferops.exoscale.plugins.module_utils import ai, cost
from ansible_collections.inferops.exoscale.plugins.module_utils.convert import to_snake
from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused
from ansible_collections.inferops.exoscale.plugins.module_utils.resource import oldest_of

CANDIDATE = "--candidate-"
RETIRED = "--retired-"
MAX_GPU_COUNT = 8
IN_PLACE_FIELDS = ("engine_version", "engine_parameters", "replicas")
RETIRE_CHOICES = ("delete", "scale_to_zero", "keep")
# spare: the candidate needs GPUs next to the live deployment's; shrink_then_grow: the live one makes room.
CAPACITY_CHOICES = ("spare", "shrink_then_grow")
BENCHMARK_OPTIONS = ("requests", "duration", "concurrency", "prompts", "max_tokens", "stream", "timeout", "thresholds")
# Steps of each mode, in order; ``plan["steps"]`` is the part still to do.
STEPS = {
    "unchanged": ("gate", "retire"),
    "in_place": ("update", "gate"),
    "blue_green": ("shrink", "create", "claim", "ready", "gate", "switch", "handoff", "rename_old", "rename_candidate",
                   "retire"),
}


# ai_rollout_plan's options (the role passes its variables without the rollout_ prefix).
OPTIONS = dict(
    name=dict(type="str", required=True), model=dict(type="str", required=True), gpu_type=dict(type="str", required=True),
    gpu_count=dict(type="int", default=1), replicas=dict(type="int", default=1),
    engine_version=dict(type="str", default=""), engine_parameters=dict(type="list", elements="str", default=[]),
    in_place=dict(type="bool", default=False), retire=dict(type="str", default="delete", choices=list(RETIRE_CHOICES)),
    smoke_prompt=dict(type="str", default=""), smoke_expect=dict(type="str", default=""),
    smoke=dict(type="dict", default={}), benchmark=dict(type="dict", default={}),
    switch_tasks=dict(type="str", default=""), wait_timeout=dict(type="int", default=1800),
    capacity=dict(type="str", default="spare", choices=list(CAPACITY_CHOICES)), prices=dict(type="dict"),
    placement=dict(type="list", elements="dict", options=dict(
        zone=dict(type="str", required=True), gpu_type=dict(type="str", required=True),
        gpu_count=dict(type="int", required=True))),
    claim=dict(type="str"))


def rollout_deployments(client, name, zone=None):
    """The zone's private deployments of this rollout (named ``name`` or ``name--...``), full objects; each with
    its ``zone`` when one is given (a placement spans zones)."""
    found = []
    for item in ai.DEPLOYMENT.list(client):
        if item.get("name") == name or (item.get("name") or "").startswith(name + "--"):
            found.append(dict(ai.DEPLOYMENT.get(client, item["id"]) or item, **({"zone": zone} if zone else {})))
    return to_snake([d for d in found if d.get("name") == name or d.get("name", "").startswith(name + "--")])


def read(module, client, inputs):
    """``(deployments, quota)``: the rollout's deployments (in every zone of a placement, else the task's zone) and,
    for capacity shrink_then_grow only (the one plan that needs its numbers), the wanted family's GPU quota."""
    quota = None
    if inputs.get("capacity") == "shrink_then_grow":
        quota = ai.gpu_quota(client, inputs["gpu_type"]).get(inputs["gpu_type"])
    options = placement_options(inputs)
    if not options:
        return rollout_deployments(client, inputs["name"]), quota
    from ansible_collections.inferops.exoscale.plugins.module_utils import placement
    clients = placement.zone_clients(module, placement.zones(options))
    return [d for zone, zone_client in clients.items() for d in rollout_deployments(zone_client, inputs["name"], zone)], quota


def placement_options(inputs):
    """``rollout_placement`` as a list of ``{zone, gpu_type, gpu_count}`` ([] when not given); raises Refused."""
    if not inputs.get("placement"):
        return []
    from ansible_collections.inferops.exoscale.plugins.module_utils import placement
    try:
        return placement.parse(inputs["placement"])
    except Refused as exc:
        raise Refused("rollout_" + str(exc))


def wanted_spec(inputs):
    """The settings the candidate is named after; with a placement, its options stand for the GPU type and count."""
    spec = dict(model=inputs["model"], gpu_type=inputs["gpu_type"], gpu_count=int(inputs["gpu_count"]),
                replicas=int(inputs["replicas"]), engine_version=inputs.get("engine_version") or "",
                engine_parameters=list(inputs.get("engine_parameters") or []))
    options = placement_options(inputs)
    if options:
        del spec["gpu_type"], spec["gpu_count"]
        spec["placement"] = options
    return spec


def spec_hash(spec):
    """The first 8 hex digits of the SHA-1 of the wanted settings (as the role's Jinja computed it before)."""
    return hashlib.sha1(json.dumps(spec, sort_keys=True).encode("utf-8")).hexdigest()[:8]


def _range(problems, options, key, low, high, label, integer=True):
    value = options.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and int(value) != value):
        problems.append("%s must be %s, got %r." % (label, "an integer" if integer else "a number", value))
    elif not (low <= value <= high if low is not None else 0 < value <= high):
        problems.append("%s must be %s to %s, got %r." % (label, low if low is not None else "more than 0", high, value))


def validate(inputs):
    """Every input problem at once, each naming the variable and what is allowed; raise Refused. No request."""
    problems = []
    name = inputs.get("name") or ""
    if not name.strip() or "--" in name:
        problems.append("rollout_name must be set and must not contain '--' (the role uses it for its candidate and"
                        " retired names), got %s." % json.dumps(name))
    if not (inputs.get("model") or "").strip():
        problems.append("rollout_model must be set, for example Qwen/Qwen2.5-0.5B-Instruct.")
    if not (inputs.get("gpu_type") or "").strip():
        problems.append("rollout_gpu_type must be set, for example gpua5000.")
    _range(problems, inputs, "gpu_count", 1, MAX_GPU_COUNT, "rollout_gpu_count")
    _range(problems, inputs, "replicas", 1, 1000, "rollout_replicas")
    if inputs.get("retire", "delete") not in RETIRE_CHOICES:
        problems.append("rollout_retire must be one of %s, got %r." % (", ".join(RETIRE_CHOICES), inputs.get("retire")))
    if (inputs.get("capacity") or "spare") not in CAPACITY_CHOICES:
        problems.append("rollout_capacity must be one of %s, got %r." % (", ".join(CAPACITY_CHOICES), inputs.get("capacity")))
    elif inputs.get("capacity") == "shrink_then_grow" and inputs.get("retire", "delete") == "keep":
        problems.append("rollout_capacity: shrink_then_grow needs the old deployment's GPUs for the candidate, so"
                        " rollout_retire must be delete or scale_to_zero, got keep.")
    try:
        if placement_options(inputs) and inputs.get("capacity") == "shrink_then_grow":
            problems.append("rollout_capacity: shrink_then_grow makes room on the live deployment's GPU family: use it"
                            " with rollout_gpu_type and rollout_gpu_count, not rollout_placement.")
    except Refused as exc:
        problems.append(str(exc))
    if inputs.get("prices") is not None:
        try:
            cost.validate_prices(inputs["prices"])
        except Refused as exc:
            problems.append("rollout_" + str(exc))
    expect = inputs.get("smoke_expect") or ""
    if expect:
        try:
            re.compile(expect)
        except re.error as exc:
            problems.append("rollout_smoke_expect is not a valid regular expression (%s): %s." % (exc, json.dumps(expect)))
    smoke = inputs.get("smoke") or {}
    _range(problems, smoke, "max_tokens", 1, 32768, "rollout_smoke_max_tokens")
    _range(problems, smoke, "retries", 0, 1000, "rollout_smoke_retries")
    _range(problems, smoke, "retry_delay", 0, 3600, "rollout_smoke_retry_delay", integer=False)
    _range(problems, inputs, "wait_timeout", 1, 7 * 24 * 3600, "rollout_wait_timeout")
    problems.extend(benchmark_problems(inputs.get("benchmark") or {}))
    if problems:
        raise Refused("The rollout's inputs cannot work; nothing was read or changed: " + " ".join(problems),
                      details=dict(problems=problems))


def benchmark_problems(options):
    """rollout_benchmark: only ai_benchmark's options, each in its range (a typo would turn the gate off)."""
    problems = ["rollout_benchmark.%s is not an option; allowed: %s." % (key, ", ".join(BENCHMARK_OPTIONS))
                for key in sorted(options) if key not in BENCHMARK_OPTIONS]
    _range(problems, options, "requests", 1, MAX_REQUESTS, "rollout_benchmark.requests")
    _range(problems, options, "concurrency", 1, MAX_CONCURRENCY, "rollout_benchmark.concurrency")
    _range(problems, options, "duration", None, MAX_DURATION, "rollout_benchmark.duration", integer=False)
    _range(problems, options, "max_tokens", 1, 32768, "rollout_benchmark.max_tokens")
    _range(problems, options, "timeout", None, 3600, "rollout_benchmark.timeout", integer=False)
    prompts = options.get("prompts")
    if prompts is not None and (not isinstance(prompts, list) or not prompts
                                or not all(isinstance(p, str) and p.strip() for p in prompts)):
        problems.append("rollout_benchmark.prompts must be a non-empty list of non-empty strings.")
    thresholds = options.get("thresholds") or {}
    if not isinstance(thresholds, dict):
        return problems + ["rollout_benchmark.thresholds must be a dict of %s." % ", ".join(sorted(THRESHOLDS))]
    for key, value in sorted(thresholds.items()):
        if key not in THRESHOLDS:
            problems.append("rollout_benchmark.thresholds.%s is not a threshold; allowed: %s."
                            % (key, ", ".join(sorted(THRESHOLDS))))
        elif value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            problems.append("rollout_benchmark.thresholds.%s must be a number of 0 or more, got %r." % (key, value))
    if isinstance(thresholds.get("error_rate_max"), (int, float)) and not 0 <= thresholds["error_rate_max"] <= 1:
        problems.append("rollout_benchmark.thresholds.error_rate_max must be 0 to 1, got %r." % thresholds["error_rate_max"])
    known = dict((k, v) for k, v in thresholds.items() if k in THRESHOLDS)
    stream = options.get("stream", True)
    problems.extend("rollout_benchmark." + p for p in threshold_problems(known, True if stream is None else stream))
    return problems


def live_view(live, wanted):
    """What the live deployment has, in the terms of ``wanted``; an empty engine_version accepts any."""
    model = live.get("model") or {}
    view = dict(
        model=wanted["model"] if wanted["model"] in (model.get("name"), model.get("id")) else model.get("name") or "",
        gpu_type=live.get("gpu_type") or "", gpu_count=int(live.get("gpu_count") or 0),
        replicas=int(live.get("replicas") or 0),
        engine_version=(live.get("inference_engine_version") or "") if wanted["engine_version"] else "",
        engine_parameters=list(live.get("inference_engine_parameters") or []))
    if "placement" in wanted:
        # Stickiness: the live deployment matches wherever it runs among the options.
        where = dict(zone=live.get("zone"), gpu_type=view.pop("gpu_type"), gpu_count=view.pop("gpu_count"))
        view["placement"] = wanted["placement"] if where in wanted["placement"] else [where]
    return view


def summary(deployment):
    """What the plan and the result say of a deployment (never its API key)."""
    if not deployment:
        return {}
    model = deployment.get("model") or {}
    return dict(id=deployment.get("id"), name=deployment.get("name"), state=deployment.get("state"),
                url=deployment.get("deployment_url") or "", model=model.get("name") or model.get("id"),
                gpu_type=deployment.get("gpu_type"), gpu_count=deployment.get("gpu_count"),
                replicas=deployment.get("replicas"),
                inference_engine_version=deployment.get("inference_engine_version"),
                inference_engine_parameters=list(deployment.get("inference_engine_parameters") or []),
                created_at=deployment.get("created_at"), zone=deployment.get("zone"))


def _ceil_div(numerator, denominator):
    return -(-numerator // denominator)


def capacity_plan(inputs, wanted, live, candidate, quota):
    """How the candidate gets its GPUs, from the quota of its family as read now (``{limit, usage}``, the live and
    candidate deployments counted in the usage; None: not read).

    ``spare``: the quota holds the live deployment and the whole candidate (ai_deployment's preflight checks it).
    ``shrink_then_grow`` (asked for, and the quota cannot hold both): scale the live deployment down by what the
    candidate's first replica lacks (``shrink_to``), create the candidate with the replicas that fit then
    (``candidate_replicas``), and after the gate and the switch hand the GPUs over step by step (``handoff``:
    ``[{old, candidate}]``, the old one scaled down to ``old`` first, then the candidate up to ``candidate``). The
    ready replicas of both together never drop below ``rollout_replicas - 1`` (a deployment scaling between counts
    above 0 keeps serving the replicas it keeps). A failed gate scales the live one back to ``restore_replicas``.
    Raises Refused, naming the numbers, when the live deployment cannot make room that way.
    """
    asked = inputs.get("capacity") or "spare"
    if asked != "shrink_then_grow" or quota is None or (quota.get("limit", -1) or 0) < 0:
        return dict(mode="spare", asked=asked)
    needed = wanted["replicas"] * wanted["gpu_count"]
    family, per_replica, target = wanted["gpu_type"], wanted["gpu_count"], wanted["replicas"]
    limit, usage = quota["limit"], quota.get("usage", 0) or 0
    old_replicas = int(live.get("replicas") or 0) if live else 0
    old_gpus = int(live.get("gpu_count") or 0) if live else 0
    same_family = bool(live) and live.get("gpu_type") == family
    held = int(candidate.get("replicas") or 0) if candidate else 0
    free = limit - usage
    # What is free with the live one at rollout_replicas (a rerun after the shrink finds it smaller).
    free_unshrunk = free - (max(0, target - old_replicas) * old_gpus if same_family and not candidate else 0)
    figures = dict(gpu_type=family, limit=limit, usage=usage, free=max(0, free), needed=needed)
    if not candidate and free_unshrunk >= needed:
        return dict(mode="spare", asked=asked, quota=figures)
    head = ("rollout_capacity: shrink_then_grow cannot make room: the candidate needs %d %s GPU(s) (%d x %d replicas),"
            " the organization's %s quota is %d with %d in use" % (needed, family, per_replica, target, family, limit, usage))
    if target < 2:
        raise Refused(head + "; with rollout_replicas 1 the service would drop to 0 ready replicas: set"
                      " rollout_replicas to 2 or more, or get the quota raised.", details=dict(check="capacity", **figures))
    if not live or live.get("state") not in ("ready", "scaling") or not same_family or old_gpus < 1:
        raise Refused(head + "; only a ready live deployment of the same GPU family (%s) can make room, and %s."
                      % (family, "there is none" if not live else "%s is %s on %s" % (
                          live.get("name"), live.get("state"), live.get("gpu_type"))),
                      details=dict(check="capacity", **figures))
    old, grown, shrink_to = old_replicas, held, None
    if not candidate:
        short = max(0, per_replica - free)
        fewer = _ceil_div(short, old_gpus)
        if old - fewer < target - 1:
            raise Refused(head + "; %s would have to go from %d to %d replicas for the candidate's first replica, below"
                          " rollout_replicas - 1 = %d." % (live.get("name"), old, old - fewer, target - 1),
                          details=dict(check="capacity", **figures))
        if fewer:
            old, shrink_to, free = old - fewer, old - fewer, free + fewer * old_gpus
        grown = min(target, free // per_replica)
        free -= grown * per_replica
    start = grown
    handoff = []
    while grown < target:
        if free < per_replica:
            fewer = _ceil_div(per_replica - free, old_gpus)
            if old - fewer < 0 or old - fewer + grown < target - 1:
                raise Refused(head + "; the hand-over would leave %d ready replica(s), below rollout_replicas - 1 = %d."
                              % (max(0, old - fewer) + grown, target - 1), details=dict(check="capacity", **figures))
            old, free = old - fewer, free + fewer * old_gpus
        more = min(target - grown, free // per_replica)
        grown, free = grown + more, free - more * per_replica
        handoff.append(dict(old=old, candidate=grown))
    return dict(mode="shrink_then_grow", asked=asked, quota=figures, live_replicas=old_replicas, shrink_to=shrink_to,
                candidate_replicas=start, handoff=handoff, restore_replicas=max(target, old_replicas))


def plan(inputs, deployments, claim=None, quota=None):
    """The rollout's state and next steps from ``deployments`` (the zone's private deployments, snake_case keys)
    and ``quota`` (the wanted family's ``{limit, usage}``, read for ``capacity: shrink_then_grow``).

    Returns ``{mode, steps, hash, wanted, changes, live, candidate, retired, switch_may_have_happened, capacity,
    cost, lines}``;
    raises Refused when the rollout cannot go on without touching what is not its own. With ``claim`` (the id of
    the candidate this run just created), candidates of other settings are no refusal: the oldest candidate of
    the name wins (every run applies the same rule to the same list), and a run that is not the oldest is refused.
    """
    validate(inputs)
    name = inputs["name"]
    wanted = wanted_spec(inputs)
    digest = spec_hash(wanted)
    candidate_name, retired_name = name + CANDIDATE + digest, name + RETIRED + digest
    named = [d for d in deployments if d.get("name") == name]
    if len(named) > 1:
        raise Refused("%d deployments are named %s (%s): the role cannot tell which one serves. Rename or delete all"
                      " but one (inferops.exoscale.ai_deployment with id, and name or state=absent), then run again."
                      % (len(named), name, ", ".join(sorted(d["id"] for d in named))), details=dict(check="ambiguous"))
    live = named[0] if named else {}
    own = [d for d in deployments if d.get("name") == candidate_name]
    foreign = sorted((d for d in deployments if (d.get("name") or "").startswith(name + CANDIDATE)
                      and d.get("name") != candidate_name), key=lambda d: (d.get("created_at") or "", d["id"]))
    if claim:
        every = [d for d in deployments if (d.get("name") or "").startswith(name + CANDIDATE)]
        winner = oldest_of([dict(d, **{"created-at": d.get("created_at")}) for d in every] or [{"id": claim}])
        if winner["id"] != claim:
            raise Refused("Another rollout of %s claimed it first: its candidate %s (id %s, created %s) is older than"
                          " this run's %s. This run deletes its own candidate; %s keeps serving. Run again once that"
                          " rollout has finished." % (name, winner.get("name"), winner["id"],
                                                      winner.get("created_at") or "?", claim,
                                                      name if live else "the current deployment"),
                          details=dict(check="claim_lost", winner=summary(winner)))
        foreign = []
    if foreign:
        raise Refused(
            "Another rollout of %s is in progress or was interrupted: candidate %s. Nothing was changed and %s keeps"
            " serving. Let that rollout finish, run it again with its own settings to resume it, or, if it is"
            " abandoned, delete its candidate (inferops.exoscale.ai_deployment with its id and state=absent)."
            % (name, ", ".join("%s (id %s, %s, created %s)" % (d["name"], d["id"], d.get("state"),
                                                               d.get("created_at") or "?") for d in foreign),
               name if live else "the current deployment"),
            details=dict(check="claimed", candidates=[summary(d) for d in foreign]))
    candidate = oldest_of([dict(d, **{"created-at": d.get("created_at")}) for d in own]) if own else {}
    retired = [d for d in deployments if d.get("name") == retired_name]
    view = live_view(live, wanted) if live else {}
    changes = [field for field in wanted if not live or view[field] != wanted[field]]
    live_ok = bool(live) and live.get("state") != "error"
    if candidate:
        mode = "blue_green"
    elif live_ok and not changes:
        mode = "unchanged"
    elif inputs.get("in_place") and live_ok and not set(changes) - set(IN_PLACE_FIELDS):
        mode = "in_place"
    else:
        mode = "blue_green"
    steps = list(STEPS[mode])
    capacity = dict(mode="spare", asked=inputs.get("capacity") or "spare")
    if mode == "blue_green" and not (candidate and int(candidate.get("replicas") or 0) >= wanted["replicas"]):
        # The old one hands its GPUs over while it still carries the name, or (renamed away) under its retired name.
        capacity = capacity_plan(inputs, wanted, live or (retired[0] if candidate and retired else {}), candidate, quota)
    skipped = set(["create", "claim"] if candidate else [])
    if capacity.get("shrink_to") is None or candidate:
        skipped.add("shrink")
    if not capacity.get("handoff"):
        skipped.add("handoff")
    steps = [step for step in steps if step not in skipped]
    if mode == "unchanged" and not (retired and inputs.get("retire", "delete") != "keep"):
        steps.remove("retire")
    # Consumers may already use the candidate: its gate passed and the switch ran in an earlier run (a retired
    # one exists next to it), or an earlier run created it and may have got that far (it is resumed).
    switched = bool(candidate) and candidate.get("state") != "error"
    result = dict(mode=mode, steps=steps, hash=digest, wanted=wanted, changes=changes, live=summary(live),
                  candidate=dict(summary(candidate), name=candidate_name, resumed=bool(candidate)),
                  retired=[summary(d) for d in retired], retired_name=retired_name,
                  switch_may_have_happened=switched, restore=bool(retired) and not live, capacity=capacity)
    if inputs.get("prices") is not None:
        result["cost"] = rollout_cost(inputs["prices"], live, wanted, mode)
    result["lines"] = describe(inputs, result)
    return result


def rollout_cost(prices, live, wanted, mode):
    """``{currency, unit, per_hour, before, after}``: the live deployment's cost per hour now and the wanted one's (as
    ai_deployment reports it for the same deployment, with cost.deployment_cost); the candidate's while both run is
    not counted."""
    before = cost.deployment_cost(live, prices) if live else 0.0
    if mode == "unchanged":
        after = before
    elif "placement" in wanted:  # the option that passes is known after the candidate's preflight (the role's)
        first = wanted["placement"][0]
        after = cost.deployment_cost(dict(first, replicas=wanted["replicas"]), prices)
    else:
        after = cost.deployment_cost(wanted, prices)
    return dict(currency=prices["currency"], unit="%s per hour" % prices["currency"], per_hour=after, before=before,
                after=after)


def quota_words(capacity):
    quota = capacity.get("quota") or {}
    return "%s quota %s, %s in use, %s needed" % (quota.get("gpu_type"), quota.get("limit"), quota.get("usage"),
                                                  quota.get("needed"))


def describe(inputs, found):
    """The plan as the role prints it, one line per step."""
    name, wanted, live = inputs["name"], found["wanted"], found["live"]
    candidate = found["candidate"]
    gate = "gate: ask %s%s%s" % (json.dumps(inputs.get("smoke_prompt") or ""),
                                 " expecting %s" % json.dumps(inputs["smoke_expect"]) if inputs.get("smoke_expect") else "",
                                 ", benchmark %s" % json.dumps(inputs["benchmark"], sort_keys=True)
                                 if inputs.get("benchmark") else "")
    retire = inputs.get("retire", "delete")
    capacity = found["capacity"]
    lines = {
        "shrink": "shrink: %s (%s) from %s to %s replicas for the candidate's first replica (%s)"
                  % (name, live.get("id"), live.get("replicas"), capacity.get("shrink_to"), quota_words(capacity)),
        "create": "create: %s %s%s" % (candidate["name"], json.dumps(wanted),
                                       " with %s replica(s) first" % capacity["candidate_replicas"]
                                       if capacity.get("candidate_replicas") not in (None, wanted["replicas"])
                                       and not candidate["resumed"] else ""),
        "handoff": "hand over: %s; then %s has %d replicas" % (
            ", ".join("old to %(old)d, candidate to %(candidate)d" % step for step in capacity.get("handoff") or []),
            candidate["name"], wanted["replicas"]),
        "claim": "claim: the oldest candidate of %s wins" % name,
        "ready": "%s: %s" % ("resume" if candidate["resumed"] else "wait",
                             "%s (found %s)" % (candidate["name"], candidate.get("state")) if candidate["resumed"]
                             else "until %s serves" % candidate["name"]),
        "gate": gate + (" (on the live deployment)" if found["mode"] == "unchanged" else ""),
        "switch": "switch: %s with the candidate's URL, API key and id"
                  % ("include " + inputs["switch_tasks"] if inputs.get("switch_tasks") else "no switch tasks"),
        "rename_old": "rename: %s (%s) -> %s" % (name, live.get("id"), found["retired_name"]) if live else "",
        "rename_candidate": "rename: %s -> %s" % (candidate["name"], name),
        "retire": "retire: %s %s" % (retire, found["retired_name"]) if retire != "keep" else "",
        "update": "update in place: %s (%s) changes %s; on a failed gate update it back to %s %s, %s replicas"
                  % (name, live.get("id"), ", ".join(found["changes"]), live.get("inference_engine_version"),
                     json.dumps(live.get("inference_engine_parameters") or []), live.get("replicas")),
    }
    head = []
    if capacity["mode"] == "shrink_then_grow":
        head.append("capacity: shrink_then_grow (%s); on a failed gate %s goes back to %d replicas"
                    % (quota_words(capacity), name, capacity["restore_replicas"]))
    if found.get("cost"):
        money = found["cost"]
        head.append("cost: %s %s per hour before, %s after" % (money["before"], money["currency"], money["after"]))
    if found["mode"] == "unchanged":
        head.insert(0, "unchanged: %s (%s) already serves %s" % (name, live.get("id"), json.dumps(wanted)))
    if found["restore"]:
        head.append("restore: nothing is named %s; on a failure %s gets the name back" % (name, found["retired_name"]))
    return head + [line for line in (lines[step] for step in found["steps"]) if line]
