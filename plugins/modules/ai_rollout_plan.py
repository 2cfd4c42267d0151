#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: ai_rollout_plan
short_description: Plan a blue/green rollout of an Exoscale AI deployment (read-only)
version_added: 0.3.0
description:
  - Reads the deployments of the zone and says where a rollout of O(name) to the wanted settings stands and what it
    does next; the role C(inferops.exoscale.rollout) runs its steps from this plan. Writes nothing, in check mode or
    not, so check mode shows the plan the run executes.
  - The names carry the state. The live deployment is named O(name). The candidate of the wanted settings is named
    C(<name>--candidate-<hash>), where C(<hash>) is the first 8 hex digits of the SHA-1 of the wanted settings. The
    old one that a rollout renamed away is C(<name>--retired-<hash>).
  - Refuses, before anything is read, inputs that cannot work (every problem at once, each naming the variable).
    This covers an unknown key of O(benchmark) or of its C(thresholds) (a typo would turn the gate off), an
    invalid O(smoke_expect) regular expression, and values out of range. It also refuses, after the reads, a
    candidate of other settings (another rollout claimed the name) and several deployments named O(name).
author:
  - inferops contributors (@inferops)
options:
  name:
    description: The logical service name, which the live deployment carries. Must not contain C(--).
    type: str
    required: true
  model:
    description: The wanted model, by Hugging Face id or by model id.
    type: str
    required: true
  gpu_type:
    description: The wanted GPU family.
    type: str
    required: true
  gpu_count:
    description: The wanted GPUs per replica, 1 to 8.
    type: int
    default: 1
  replicas:
    description: The wanted number of replicas, at least 1.
    type: int
    default: 1
  engine_version:
    description: The wanted vLLM version; empty accepts the live deployment's version.
    type: str
    default: ""
  engine_parameters:
    description: The wanted engine arguments.
    type: list
    elements: str
    default: []
  in_place:
    description: When only the engine version, its parameters or the replicas differ, plan an update in place.
    type: bool
    default: false
  retire:
    description: What happens to the old deployment once the candidate serves the name.
    type: str
    choices: [delete, scale_to_zero, keep]
    default: delete
  smoke_prompt:
    description: The gate's prompt (shown in the plan).
    type: str
    default: ""
  smoke_expect:
    description: Regular expression the gate's answer must contain; checked here to be valid.
    type: str
    default: ""
  smoke:
    description: The gate's other settings, checked for their ranges (C(max_tokens), C(retries), C(retry_delay)).
    type: dict
    default: {}
  benchmark:
    description:
      - The options of M(inferops.exoscale.ai_benchmark) for the gate (C(requests), C(duration), C(concurrency),
        C(prompts), C(max_tokens), C(stream), C(timeout), C(thresholds)); unknown keys and out-of-range values are
        refused.
    type: dict
    default: {}
  switch_tasks:
    description: The switch task file (shown in the plan).
    type: str
    default: ""
  wait_timeout:
    description: The rollout's wait timeout in seconds, checked for its range.
    type: int
    default: 1800
  placement:
    description:
      - Where the candidate may run, in order of preference (C({zone, gpu_type, gpu_count}) options, as
        M(inferops.exoscale.ai_deployment) takes them); O(gpu_type) and O(gpu_count) are then not used. The rollout's
        deployments are listed in every zone of the list. The live deployment matches wherever it runs among the
        options (it stays there); the candidate's name is hashed over the list.
    type: list
    elements: dict
    suboptions:
      zone:
        description: The zone.
        type: str
        required: true
      gpu_type:
        description: The GPU family in that zone.
        type: str
        required: true
      gpu_count:
        description: GPUs per replica, 1 to 8.
        type: int
        required: true
  capacity:
    description:
      - How the candidate gets its GPUs. V(spare) needs quota for the live deployment and the whole candidate at once.
      - V(shrink_then_grow), when the quota cannot hold both (it is read, C(GET /quota/<family>)) and O(replicas) is 2
        or more, plans to scale the live deployment down by what the candidate's first replica lacks, to create the
        candidate with the replicas that then fit, and after the gate and the switch to hand the GPUs over step by
        step (RV(capacity)). The ready replicas of both never drop below O(replicas) - 1. Refused, with the numbers,
        when the live deployment cannot make room so (another family, not ready, or fewer replicas than that).
    type: str
    choices: [spare, shrink_then_grow]
    default: spare
  prices:
    description:
      - "Prices to report the cost with (RV(cost)): C({currency: EUR, per_gpu_hour: {<gpu family>: <price>}}), as
        M(inferops.exoscale.ai_deployment) takes them. The collection ships no price figures."
    type: dict
  claim:
    description:
      - The id of the candidate that this run just created. Candidates of other settings are then no refusal. The
        oldest candidate of O(name) wins (by creation time, then id), and the task fails when it is not O(claim).
    type: str
extends_documentation_fragment:
  - inferops.exoscale.api
  - inferops.exoscale.api.actiongroup
  - inferops.exoscale.attributes
  - inferops.exoscale.attributes.action
attributes:
  check_mode:
    details: Read-only; it returns the same plan in check mode.
'''

EXAMPLES = r'''
- name: Where does the rollout of chat to Qwen 1.5B stand?
  inferops.exoscale.ai_rollout_plan:
    name: chat
    model: Qwen/Qwen2.5-1.5B-Instruct
    gpu_type: gpua5000
    gpu_count: 1
    smoke_expect: "(?i)bern"
  register: rollout_plan

- name: Show the steps still to do
  ansible.builtin.debug:
    msg: "{{ rollout_plan.mode }}: {{ rollout_plan.steps | join(', ') }}"
'''

RETURN = r'''
mode:
  description: V(unchanged) (the live deployment matches), V(in_place) (update it) or V(blue_green) (a candidate).
  returned: success
  type: str
  sample: blue_green
steps:
  description:
    - The steps still to do, in order, among V(shrink), V(create), V(claim), V(ready), V(gate), V(switch), V(handoff),
      V(rename_old), V(rename_candidate), V(retire) (blue/green; V(shrink) and V(handoff) with
      O(capacity=shrink_then_grow)), V(update), V(gate) (in place) and V(gate), V(retire) (unchanged).
  returned: success
  type: list
  elements: str
  sample: [create, claim, ready, gate, switch, rename_old, rename_candidate, retire]
lines:
  description: The plan in words, one line per step.
  returned: success
  type: list
  elements: str
hash:
  description: The first 8 hex digits of the SHA-1 of the wanted settings.
  returned: success
  type: str
  sample: 3f1c9a0b
wanted:
  description: The wanted settings (model, gpu_type, gpu_count, replicas, engine_version, engine_parameters).
  returned: success
  type: dict
changes:
  description: The wanted settings that the live deployment does not have (all of them when there is none).
  returned: success
  type: list
  elements: str
live:
  description: The deployment named O(name) (id, name, state, url, model, gpu_type, gpu_count, replicas, engine); empty when none.
  returned: success
  type: dict
candidate:
  description: The candidate's C(name), and when one exists its C(id), C(state)... with C(resumed=true).
  returned: success
  type: dict
retired:
  description: The deployments named C(<name>--retired-<hash>).
  returned: success
  type: list
  elements: dict
retired_name:
  description: C(<name>--retired-<hash>).
  returned: success
  type: str
switch_may_have_happened:
  description:
    - Whether consumers may already use the candidate (it exists and was not created by this run, so an earlier run
      may have passed its gate and switched). A failed gate then keeps it.
  returned: success
  type: bool
capacity:
  description:
    - C(mode) (V(spare) or V(shrink_then_grow)) and, for V(shrink_then_grow), the family's C(quota) (C(limit),
      C(usage), C(free), C(needed)), C(shrink_to) (the live deployment's replicas while the candidate starts; null when
      no shrink is left to do), C(candidate_replicas) (the candidate's replicas at its create), C(handoff) (the
      steps after the switch, C([{old, candidate}])) and C(restore_replicas) (the live size a failed gate restores).
  returned: success
  type: dict
  sample: {"mode": "shrink_then_grow", "quota": {"gpu_type": "gpua5000", "limit": 2, "usage": 2, "free": 0, "needed": 2},
           "live_replicas": 2, "shrink_to": 1, "candidate_replicas": 1, "handoff": [{"old": 0, "candidate": 2}],
           "restore_replicas": 2}
cost:
  description:
    - With O(prices), C(currency), C(unit), C(per_hour) (what the service costs once the plan is done), C(before) (the
      live deployment now) and C(after) (the wanted deployment), as M(inferops.exoscale.ai_deployment) computes them.
  returned: when O(prices) is given
  type: dict
  sample: {"currency": "EUR", "unit": "EUR per hour", "per_hour": 3.0, "before": 1.5, "after": 3.0}
restore:
  description: Whether nothing carries O(name) while a retired deployment exists (a run stopped after renaming it away).
  returned: success
  type: bool
'''

from ansible_collections.inferops.exoscale.plugins.module_utils import rollout
from ansible_collections.inferops.exoscale.plugins.module_utils.client import ExoscaleError
from ansible_collections.inferops.exoscale.plugins.module_utils.module_setup import (
    client_from_module, exoscale_module, fail_from_error,
)
from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused


def main():
    module = exoscale_module(rollout.OPTIONS)
    inputs = dict(module.params)
    try:
        rollout.validate(inputs)
        deployments, quota = rollout.read(module, client_from_module(module), inputs)
        found = rollout.plan(inputs, deployments, claim=inputs["claim"], quota=quota)
    except Refused as exc:
        module.fail_json(msg=str(exc), **exc.details)
    except ExoscaleError as exc:
        fail_from_error(module, exc)
    module.exit_json(changed=False, **found)


if __name__ == "__main__":
    main()
