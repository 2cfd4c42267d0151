"""Per-zone GPU families: what GET /ai/instance-type answers in each zone, authorization and capacity per zone
(the create's 412), the organisation's quota across zones, and the /_sim/zones and /_sim/inventory?zone= controls."""
import pytest

from exoscale_ai_simulator import catalogue
from exoscale_ai_simulator.control import SimulatorControl
from exoscale_ai_simulator.server import start_in_thread

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


@pytest.fixture
def control(server):
    return SimulatorControl(server.url)


def _families(api, zone=None):
    return {entry["family"]: entry["authorized"] for entry in api.ok("GET", "/ai/instance-type", zone=zone)["instance-types"]}


def _create(api, model, zone=None, **fields):
    body = {"name": "z", "model": {"id": model["id"]}, "gpu-type": "gpua5000", "gpu-count": 1, "replicas": 1, **fields}
    return api.post("/ai/deployment", body, zone=zone)


def test_default_is_uniform_in_every_zone(api):
    expected = {family: spec["authorized"] for family, spec in catalogue.GPU_FAMILIES.items()}
    for zone in catalogue.ZONES:
        assert _families(api, zone) == expected


def test_exoscale_preset_answers_per_zone_as_the_limits_page(api, control):
    zones = control.zones(preset="exoscale-2026")
    assert _families(api, "at-vie-2") == {"gpu3080ti": True, "gpua5000": True}
    assert _families(api, "ch-dk-2") == {"gpurtx6000pro": False}
    assert _families(api, "de-fra-1") == {"gpu3": True, "gpurtx6000pro": True}
    assert _families(api, "hr-zag-1") == {"gpurtx6000pro": True}
    # Zones the page does not list keep the uniform families (the default zone included).
    assert _families(api) == _families(api, "at-vie-1") == {f: s["authorized"] for f, s in catalogue.GPU_FAMILIES.items()}
    assert zones["de-fra-1"]["gpu3"] == {"free": 8, "authorized": True}
    assert control.zones() == zones


def test_family_not_offered_not_authorized_and_capacity_are_per_zone(api, control):
    control.zones(preset="exoscale-2026")
    vie = api.ready_model(zone="at-vie-2")
    fra = api.ready_model(zone="de-fra-1")
    dk = api.ready_model(zone="ch-dk-2")
    missing = _create(api, fra, zone="de-fra-1", **{"gpu-type": "gpua5000"})
    assert missing.status_code == 400
    assert "not offered in zone de-fra-1" in missing.json()["detail"] and "gpu3, gpurtx6000pro" in missing.json()["detail"]
    refused = _create(api, dk, zone="ch-dk-2", **{"gpu-type": "gpurtx6000pro"})
    assert refused.status_code == 412 and "not authorized to use gpurtx6000pro in zone ch-dk-2" in refused.json()["detail"]
    # gpu3 is authorized with capacity in de-fra-1 only.
    assert api.ready_deployment(fra, zone="de-fra-1", **{"gpu-type": "gpu3", "gpu-count": 2})["state"] == "ready"
    control.inventory({"gpua5000": {"free": 1}}, zone="at-vie-2")
    short = _create(api, vie, zone="at-vie-2", replicas=2)
    assert short.status_code == 412 and "not enough gpua5000 GPUs available in at-vie-2: 2 requested, 1 free" in short.json()["detail"]
    assert not api.ok("GET", "/ai/deployment", query="visibility=private", zone="at-vie-2")["deployments"]
    # The same request in a zone with capacity is accepted: capacity is per zone.
    assert _create(api, api.ready_model(), replicas=2).status_code == 200


def test_quota_stays_per_organisation_across_zones(api, control):
    control.zones(preset="exoscale-2026")
    control.limits(gpurtx6000pro=2)
    zag = api.ready_model(zone="hr-zag-1")
    fra = api.ready_model(zone="de-fra-1")
    api.ready_deployment(zag, zone="hr-zag-1", **{"gpu-type": "gpurtx6000pro", "gpu-count": 2})
    over = _create(api, fra, zone="de-fra-1", **{"gpu-type": "gpurtx6000pro"})
    assert over.status_code == 403 and "2 of 2 in use" in over.json()["detail"]
    quotas = {entry["resource"]: entry for entry in api.ok("GET", "/quota", zone="de-fra-1")["quotas"]}
    assert quotas["gpurtx6000pro"] == {"resource": "gpurtx6000pro", "usage": 2, "limit": 2}


def test_inventory_control_per_zone_and_everywhere(api, control):
    control.inventory({"gpu3": {"free": 4, "authorized": True}}, zone="de-fra-1")
    assert _families(api, "de-fra-1")["gpu3"] is True and _families(api)["gpu3"] is False
    assert control.inventory(zone="de-fra-1")["gpu3"] == {"free": 4, "authorized": True}
    # Without a zone the change applies to every zone (what /_sim/inventory always did), null removes a family.
    control.inventory(gpu3080ti=None)
    assert all("gpu3080ti" not in _families(api, zone) for zone in catalogue.ZONES)
    control.zones({"at-vie-1": {"gpua30": {"free": 2}}})
    assert _families(api, "at-vie-1")["gpua30"] is True and "gpua30" not in _families(api)
    # A family of any zone is a quota resource of the organisation.
    assert "gpua30" in {entry["resource"] for entry in api.ok("GET", "/quota")["quotas"]}
    control.zones(preset="uniform")
    assert _families(api, "at-vie-1") == _families(api)


@pytest.mark.parametrize("call, message", [
    (lambda c: c.zones(preset="aws"), "preset: invalid value"),
    (lambda c: c.zones({"xx-yyy-9": {}}), "zone: unknown zone"),
    (lambda c: c.zones({"de-fra-1": {"gpu3": {"free": -1}}}), "zones.de-fra-1.gpu3.free"),
    (lambda c: c.zones({"de-fra-1": {"gpu3": {"authorized": "yes"}}}), "zones.de-fra-1.gpu3.authorized"),
    (lambda c: c.zones({"de-fra-1": {"gpu3": {"colour": 1}}}), "expected {free, authorized}"),
    (lambda c: c.inventory({"gpu3": {"free": 1}}, zone="nowhere-1"), "zone: unknown zone"),
])
def test_zone_controls_refuse_bad_input_and_change_nothing(control, call, message):
    before = control.zones()
    with pytest.raises(RuntimeError, match=message):
        call(control)
    assert control.zones() == before


def test_reset_restores_uniform_and_state_file_keeps_zones(tmp_path):
    state_file = str(tmp_path / "state.json")
    first = start_in_thread(speed=1000, state_file=state_file)
    try:
        control = SimulatorControl(first.url)
        control.zones(preset="exoscale-2026")
    finally:
        first.stop()
    second = start_in_thread(speed=1000, state_file=state_file)
    try:
        control = SimulatorControl(second.url)
        assert control.zones()["ch-dk-2"] == {"gpurtx6000pro": {"free": 8, "authorized": False}}
        control.reset()
        assert "gpua5000" in control.zones()["ch-dk-2"]
    finally:
        second.stop()
