# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only lookup: between the sections of one shared playbook run, reset the simulator and seed a starting state."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: sim_harness
short_description: Reset and seed the Exoscale API simulator between sections of one playbook run (tests only)
description:
  - Counts the API requests the simulator received since its last reset, resets it, then creates the model and the
    ready deployments of O(seed) through the signed API. Returns C({api_requests, seeded}). Runs in the controller,
    so a harness task costs no module process.
options:
  url:
    description: Simulator base URL (without /v2).
    type: str
    required: true
  key:
    description: API key of the simulator (for O(seed)).
    type: str
    env:
      - name: EXOSCALE_API_KEY
  secret:
    description: API secret of the simulator (for O(seed)).
    type: str
    env:
      - name: EXOSCALE_API_SECRET
  seed:
    description: C({model, zone, deployments}) to create after the reset.
    type: dict
    default: {}
'''

import json
import time
import urllib.request

from ansible.plugins.lookup import LookupBase


def control(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        base = self.get_option("url")
        api_requests = len([entry for entry in control(base, "GET", "/_sim/requests")["requests"]
                            if entry["kind"] == "api"])
        control(base, "POST", "/_sim/reset", {})
        seed = self.get_option("seed") or {}
        seeded = {}
        if seed:
            seeded = self._seed(base, seed)
        return [{"api_requests": api_requests, "seeded": seeded}]

    def _seed(self, base, seed):
        import requests  # pylint: disable=import-outside-toplevel
        from exoscale_auth import ExoscaleV2Auth  # pylint: disable=import-outside-toplevel

        session = requests.Session()
        session.trust_env = False
        session.auth = ExoscaleV2Auth(self.get_option("key"), self.get_option("secret"))
        zone = seed.get("zone", "ch-gva-2")

        def call(method, path, body=None):
            response = session.request(method, "%s/%s/v2%s" % (base, zone, path), json=body, timeout=10)
            response.raise_for_status()
            return response.json()

        def wait(path, state, timeout=60):
            deadline = time.monotonic() + timeout
            while True:
                resource = call("GET", path)
                if resource["state"] == state:
                    return resource
                if time.monotonic() > deadline:
                    raise RuntimeError("%s still %s" % (path, resource["state"]))
                time.sleep(0.05)

        operation = call("POST", "/ai/model", {"name": seed["model"]})
        model = wait("/ai/model/%s" % operation["reference"]["id"], "ready")
        deployments = {}
        for options in seed.get("deployments", []):
            operation = call("POST", "/ai/deployment", {
                "name": options["name"], "model": {"id": model["id"]}, "gpu-type": options.get("gpu_type", "gpua5000"),
                "gpu-count": options.get("gpu_count", 1), "replicas": options.get("replicas", 1)})
            deployments[options["name"]] = wait("/ai/deployment/%s" % operation["reference"]["id"], "ready")["id"]
        # The seeding is the starting state, not what the section did.
        control(base, "DELETE", "/_sim/requests")
        return {"model": model["id"], "deployments": deployments}
