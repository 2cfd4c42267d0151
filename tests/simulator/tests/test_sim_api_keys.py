"""Organisation AI API keys at the inference endpoint: scope `public` opens every deployment of the zone, a deployment
scope that deployment only, a deleted key nothing; the deployment's own key keeps working."""


def _status(api, deployment, key):
    url = api.http.base_url.copy_with(path=f"/inference/{deployment['zone']}/{deployment['id']}/v1/models")
    response = api.http.get(url, headers={"Authorization": f"Bearer {key}"})
    if response.status_code == 401:
        assert set(response.json()["error"]) == {"message", "type", "code"}
    return response.status_code


def _deployment(api, model, name, zone=None):
    deployment = api.ready_deployment(model, zone=zone, name=name)
    assert deployment["state"] == "ready"
    own_key = api.ok("GET", f"/ai/deployment/{deployment['id']}/api-key", zone=zone)["api-key"]
    return dict(deployment, zone=zone or "ch-gva-2", own_key=own_key)


def _org_key(api, scope, zone=None):
    created = api.ok("POST", "/ai/api-key", {"name": f"key {scope[:8]}", "scope": scope}, zone=zone)
    assert created["scope"] == scope and created["value"]
    return created


def test_scoped_key_opens_its_deployment_only(api):
    model = api.ready_model()
    first, second = _deployment(api, model, "first"), _deployment(api, model, "second")
    scoped = _org_key(api, first["id"])
    assert _status(api, first, scoped["value"]) == 200
    assert _status(api, second, scoped["value"]) == 401
    assert _status(api, first, first["own_key"]) == 200 and _status(api, second, second["own_key"]) == 200
    assert _status(api, second, first["own_key"]) == 401


def test_public_key_opens_every_deployment_of_its_zone(api):
    model = api.ready_model()
    mine = [_deployment(api, model, name) for name in ("a", "b")]
    managed = next(d for d in api.ok("GET", "/ai/deployment", query="visibility=public")["deployments"] if d["name"] == "qwen3-8b")
    public = _org_key(api, "public")
    for deployment in mine + [dict(managed, zone="ch-gva-2")]:
        assert _status(api, deployment, public["value"]) == 200
    other_zone = _deployment(api, api.ready_model(zone="de-fra-1"), "fra", zone="de-fra-1")
    assert _status(api, other_zone, public["value"]) == 401  # keys are zone-local, like the deployments they open
    assert _status(api, other_zone, _org_key(api, "public", zone="de-fra-1")["value"]) == 200


def test_deleted_key_opens_nothing(api):
    model = api.ready_model()
    deployment = _deployment(api, model, "d")
    keys = [_org_key(api, "public"), _org_key(api, deployment["id"])]
    for key in keys:
        assert _status(api, deployment, key["value"]) == 200
        api.wait_operation(api.ok("DELETE", f"/ai/api-key/{key['id']}"))
        assert api.get(f"/ai/api-key/{key['id']}").status_code == 404
        assert _status(api, deployment, key["value"]) == 401
    assert _status(api, deployment, deployment["own_key"]) == 200
