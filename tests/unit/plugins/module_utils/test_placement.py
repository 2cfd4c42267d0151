# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Placement: option parsing, one reason per check with its numbers, the first option that passes, stickiness."""

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.inferops.exoscale.plugins.module_utils import gpu, placement
from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused

# The example of Exoscale's "Limits and Quotas" page (FACTS): families per zone and authorization.
ZONES = {
    "at-vie-2": [{"family": "gpu3080ti", "authorized": True}, {"family": "gpua5000", "authorized": True}],
    "ch-dk-2": [{"family": "gpurtx6000pro", "authorized": False}],
    "de-fra-1": [{"family": "gpu3", "authorized": True}, {"family": "gpurtx6000pro", "authorized": True}],
    "hr-zag-1": [{"family": "gpurtx6000pro", "authorized": True}],
}
QUOTAS = {"gpu3": {"limit": 8, "usage": 8}, "gpurtx6000pro": {"limit": 16, "usage": 0}, "gpua5000": {"limit": -1, "usage": 3},
          "gpu3080ti": {"limit": 4, "usage": 1}}
QWEN_7B = 15231233024
QWEN_7B_CONFIG = {"hidden_size": 3584, "num_attention_heads": 28, "num_key_value_heads": 4, "num_hidden_layers": 28,
                  "max_position_embeddings": 32768, "torch_dtype": "bfloat16"}


def option(zone, family, count=1):
    return dict(zone=zone, gpu_type=family, gpu_count=count)


def facts(**kwargs):
    found = dict(instance_types=ZONES, quotas=QUOTAS, replicas=1, parameters=[], weights=None, config=None)
    found.update(kwargs)
    return found


def test_parse_keeps_order_and_normalizes():
    parsed = placement.parse([{"zone": "de-fra-1", "gpu_type": "gpu3", "gpu_count": "2"}, option("at-vie-2", "gpua5000")])
    assert parsed == [option("de-fra-1", "gpu3", 2), option("at-vie-2", "gpua5000")]
    assert placement.zones(parsed + [option("de-fra-1", "gpurtx6000pro")]) == ["de-fra-1", "at-vie-2"]


@pytest.mark.parametrize("value, message", [
    ([], "non-empty list"),
    (None, "non-empty list"),
    (["de-fra-1"], r"placement\[0\] must be a dict"),
    ([{"zone": "de-fra-1", "gpu_type": "gpu3"}], r"placement\[0\]: missing gpu_count"),
    ([{"zone": "de-fra-1", "gpu_type": "gpu3", "gpu_count": 1, "replicas": 2}], "unknown key.*replicas"),
    ([{"zone": "Frankfurt", "gpu_type": "gpu3", "gpu_count": 1}], "not a zone name"),
    ([{"zone": "de-fra-1", "gpu_type": "gpu3", "gpu_count": 9}], "between 1 and 8"),
    ([{"zone": "de-fra-1", "gpu_type": "gpu3", "gpu_count": "two"}], "must be an integer"),
    ([option("de-fra-1", "gpu3"), option("de-fra-1", "gpu3")], r"placement\[1\] repeats placement\[0\]"),
])
def test_parse_refuses_bad_input_naming_the_field(value, message):
    with pytest.raises(Refused, match=message):
        placement.parse(value)


def test_family_missing_and_not_authorized_reasons():
    assert placement.family_reason(option("at-vie-2", "gpu3"), ZONES["at-vie-2"]) == \
        "gpu3 is not offered in at-vie-2 (families there: gpu3080ti, gpua5000)"
    assert placement.family_reason(option("ch-dk-2", "gpurtx6000pro"), ZONES["ch-dk-2"]) == \
        "gpurtx6000pro is not authorized for the organization in ch-dk-2"
    assert placement.family_reason(option("de-fra-1", "gpu3"), ZONES["de-fra-1"]) is None
    assert placement.family_reason(option("de-fra-1", "gpu3"), None) is None  # not checked (preflight_skip)


def test_quota_reason_has_the_numbers():
    assert placement.quota_reason(option("de-fra-1", "gpu3", 2), QUOTAS["gpu3"], 1) == "quota 8, 8 in use, 2 needed (2 x 1 replica(s))"
    assert placement.quota_reason(option("at-vie-2", "gpu3080ti", 2), QUOTAS["gpu3080ti"], 2) == \
        "quota 4, 1 in use, 4 needed (2 x 2 replica(s))"
    assert placement.quota_reason(option("at-vie-2", "gpu3080ti", 3), QUOTAS["gpu3080ti"], 1) is None
    assert placement.quota_reason(option("at-vie-2", "gpua5000", 8), QUOTAS["gpua5000"], 8) is None  # unlimited
    assert placement.quota_reason(option("de-fra-1", "gpu3", 2), QUOTAS["gpu3"], 1, freed=2) is None


def test_fit_reasons_weights_and_kv_cache():
    budget = int(gpu.memory_bytes("gpu3080ti") * 0.9)
    reason = placement.fit_reason(option("at-vie-2", "gpu3080ti"), QWEN_7B, [], None)
    assert reason == "weights %s do not fit 1 x gpu3080ti (%s each) x 0.9 gpu-memory-utilization = %s" % (
        gpu.gibibytes(QWEN_7B), gpu.gibibytes(gpu.memory_bytes("gpu3080ti")), gpu.gibibytes(budget))
    assert placement.fit_reason(option("at-vie-2", "gpua5000"), QWEN_7B, [], QWEN_7B_CONFIG) is None
    kv = placement.fit_reason(option("at-vie-2", "gpua5000"), QWEN_7B, ["--max-model-len=1000000"],
                              dict(QWEN_7B_CONFIG, max_position_embeddings=1000000))
    assert kv.startswith("KV cache for --max-model-len 1000000 needs ") and "largest length that fits" in kv
    assert placement.fit_reason(option("at-vie-2", "gpu3080ti"), None, [], None) is None  # size unknown


def test_choose_first_that_passes_with_every_reason_before_it():
    options = [option("at-vie-2", "gpu3", 2), option("ch-dk-2", "gpurtx6000pro"), option("de-fra-1", "gpu3", 2),
               option("hr-zag-1", "gpurtx6000pro"), option("de-fra-1", "gpurtx6000pro")]
    result = placement.choose(options, facts())
    assert result["chosen"] == option("hr-zag-1", "gpurtx6000pro")
    assert [entry["reason"] for entry in result["passed_over"]] == [
        "at-vie-2 gpu3 x2: gpu3 is not offered in at-vie-2 (families there: gpu3080ti, gpua5000)",
        "ch-dk-2 gpurtx6000pro x1: gpurtx6000pro is not authorized for the organization in ch-dk-2",
        "de-fra-1 gpu3 x2: quota 8, 8 in use, 2 needed (2 x 1 replica(s))",
    ]
    assert [dict((k, e[k]) for k in placement.OPTION_KEYS) for e in result["passed_over"]] == options[:3]


def test_choose_none_passes_and_refusal_lists_every_reason():
    options = [option("de-fra-1", "gpu3"), option("at-vie-2", "gpu3080ti")]
    result = placement.choose(options, facts(weights=QWEN_7B))
    assert result["chosen"] is None and len(result["passed_over"]) == 2
    message = placement.refusal(result["passed_over"])
    assert "none of the 2 option(s)" in message and "quota 8, 8 in use" in message and "do not fit 1 x gpu3080ti" in message


def test_skip_turns_checks_off():
    options = [option("de-fra-1", "gpu3")]
    assert placement.choose(options, facts(), skip=["quota"])["chosen"] == options[0]
    assert placement.choose([option("ch-dk-2", "gpua5000")], facts())["chosen"] is None
    assert placement.choose([option("ch-dk-2", "gpua5000")], facts(), skip=["gpu_type"])["chosen"] is not None


def test_kept_and_remaining():
    options = [option("de-fra-1", "gpu3"), option("at-vie-2", "gpua5000"), option("hr-zag-1", "gpurtx6000pro")]
    deployment = {"gpu-type": "gpua5000", "gpu-count": 1}
    result = placement.kept(options, deployment, "at-vie-2")
    assert result["chosen"] == options[1]
    assert [e["zone"] for e in result["passed_over"]] == ["de-fra-1"]
    assert "already runs on at-vie-2 gpua5000 x1" in result["passed_over"][0]["reason"]
    assert placement.kept(options, {"gpu-type": "gpu3080ti", "gpu-count": 1}, "at-vie-2")["chosen"] is None
    assert placement.remaining(options, options[1]) == options[2:]


class FakeClient:
    def __init__(self, zone, log):
        self.zone, self.log = zone, log

    def get(self, path, query=None):
        self.log.append((self.zone, path))
        if path == "/ai/instance-type":
            return {"instance-types": ZONES.get(self.zone, [])}
        return {"quotas": [dict(resource=family, **quota) for family, quota in QUOTAS.items()] + [
            {"resource": "instance", "usage": 0, "limit": 20}]}


def test_gather_reads_each_zone_once_and_the_quotas_once():
    log = []
    options = [option("de-fra-1", "gpu3"), option("at-vie-2", "gpua5000"), option("de-fra-1", "gpurtx6000pro")]
    clients = dict((zone, FakeClient(zone, log)) for zone in placement.zones(options))
    found = placement.gather(clients, options, 2, [])
    assert log == [("de-fra-1", "/ai/instance-type"), ("at-vie-2", "/ai/instance-type"), ("de-fra-1", "/quota")]
    assert found["quotas"]["gpu3"]["limit"] == 8 and "instance" not in found["quotas"]
    assert placement.choose(options, found)["chosen"] == options[1]
    log[:] = []
    placement.gather(clients, options, 1, [], skip=["gpu_type", "quota"])
    assert log == []


FAMILIES = ["gpu3", "gpua5000", "gpu3080ti", "gpurtx6000pro"]
ZONE_NAMES = ["at-vie-2", "ch-dk-2", "de-fra-1", "hr-zag-1"]
OPTIONS = st.builds(option, st.sampled_from(ZONE_NAMES), st.sampled_from(FAMILIES), st.integers(1, 8))
QUOTA = st.fixed_dictionaries({"limit": st.integers(-1, 16), "usage": st.integers(0, 16)})


@settings(derandomize=True, deadline=None, max_examples=300)
@given(st.lists(OPTIONS, min_size=1, max_size=6, unique_by=lambda o: (o["zone"], o["gpu_type"], o["gpu_count"])),
       st.dictionaries(st.sampled_from(FAMILIES), QUOTA), st.integers(1, 4),
       st.one_of(st.none(), st.integers(10 ** 9, 200 * 10 ** 9)))
def test_choose_is_the_first_option_with_no_reason(options, quotas, replicas, weights):
    found = facts(quotas=quotas, replicas=replicas, weights=weights)
    result = placement.choose(options, found)
    reasons = [placement.assess(o, found) for o in options]
    first = next((i for i, reason in enumerate(reasons) if reason is None), None)
    assert result["chosen"] == (options[first] if first is not None else None)
    assert len(result["passed_over"]) == (first if first is not None else len(options))
    for entry, reason in zip(result["passed_over"], reasons):
        assert reason and entry["reason"].endswith(reason) and entry["reason"].startswith(placement.label(entry))
    if result["chosen"]:
        chosen = result["chosen"]
        quota = quotas.get(chosen["gpu_type"])
        # The chosen option is offered, authorized, and within the quota.
        assert {"family": chosen["gpu_type"], "authorized": True} in ZONES[chosen["zone"]]
        assert not quota or quota["limit"] < 0 or chosen["gpu_count"] * replicas <= quota["limit"] - quota["usage"]


class FakeModule:
    def __init__(self, params):
        self.params = params
        self.warnings = []
        self.no_log_values = set()
        self.check_mode = False

    def warn(self, message):
        self.warnings.append(message)


class FakeOwner:
    """What Placer needs of the deployment module: params, module, client, check_mode, wrote, hub()."""

    def __init__(self, **params):
        base = dict(api_key="EXOkey", api_secret="secret", api_profile=None, zone=None,
                    api_url="http://127.0.0.1:9/{zone}/v2", api_timeout=30.0, validate_certs=True, name="chat", id=None,
                    model="Qwen/Qwen2.5-0.5B-Instruct", state="present", replicas=1, preflight_skip=[], placement_move=False,
                    inference_engine_parameters=None, gpu_type=None, gpu_count=None)
        base.update(params)
        self.params = base
        self.module = FakeModule(base)
        self.client = None
        self.check_mode = False
        self.wrote = False


def test_placer_refuses_a_deployment_found_in_several_zones(monkeypatch):
    monkeypatch.delenv("EXOSCALE_API_ENDPOINT", raising=False)
    owner = FakeOwner(placement=[option("de-fra-1", "gpu3"), option("hr-zag-1", "gpurtx6000pro")])
    placer = placement.Placer(owner)
    found = {"de-fra-1": {"id": "a", "gpu-type": "gpu3", "gpu-count": 1}, "hr-zag-1": {"id": "b"}}
    with pytest.raises(Refused, match=r"exists in several zones of placement: de-fra-1 \(id a\), hr-zag-1 \(id b\)"):
        placer.find(lambda client: found[client.base_url.split("/")[-2]])


def test_placer_keeps_an_existing_deployment_where_it_runs(monkeypatch):
    monkeypatch.delenv("EXOSCALE_API_ENDPOINT", raising=False)
    owner = FakeOwner(placement=[option("de-fra-1", "gpu3"), option("hr-zag-1", "gpurtx6000pro")], zone="ch-gva-2")
    placer = placement.Placer(owner)
    deployment = {"id": "b", "gpu-type": "gpurtx6000pro", "gpu-count": 1}
    assert placer.find(lambda client: deployment if "hr-zag-1" in client.base_url else None) is deployment
    assert owner.client.base_url == "http://127.0.0.1:9/hr-zag-1/v2"
    assert (owner.params["gpu_type"], owner.params["gpu_count"]) == ("gpurtx6000pro", 1)
    assert placer.result["chosen"] == option("hr-zag-1", "gpurtx6000pro")
    assert owner.module.warnings == ["zone ch-gva-2 is not applied: placement decides the zone."]
    assert "secret" in owner.module.no_log_values


def test_zone_clients_refuse_one_url_for_several_zones(monkeypatch):
    monkeypatch.delenv("EXOSCALE_API_ENDPOINT", raising=False)
    owner = FakeOwner(api_url="http://127.0.0.1:9/v2")
    with pytest.raises(Refused, match="names no zone and has no {zone} placeholder"):
        placement.zone_clients(owner.module, ["de-fra-1", "hr-zag-1"])
    assert list(placement.zone_clients(owner.module, ["de-fra-1"])) == ["de-fra-1"]  # one zone: its warning only
    owner = FakeOwner(api_url="https://api-ch-gva-2.exoscale.com/v2")
    with pytest.raises(Refused, match="placement zone de-fra-1: zone is de-fra-1"):
        placement.zone_clients(owner.module, ["de-fra-1"])
    owner = FakeOwner(api_url=None)
    clients = placement.zone_clients(owner.module, ["de-fra-1", "hr-zag-1"])
    assert [c.base_url for c in clients.values()] == ["https://api-de-fra-1.exoscale.com/v2", "https://api-hr-zag-1.exoscale.com/v2"]
