"""No secret ever reaches the output: every module and the role at -vvv with --diff, in check mode and in
failing cases next to the secret (wrong secret -> 403, wrong inference key -> 401, a profile file holding a
secret with a malformed zone). Scans stdout, stderr and the callback records for every secret value."""
import secrets

from tests.integration.reliability_report import private_deployments, record

GATED = "meta-llama/Llama-3.2-1B-Instruct"


def test_no_secret_in_any_output(play, sim, tmp_path):
    sim.control.config(speed=200)
    token = "hf_" + secrets.token_urlsafe(24)
    wrong_secret = "wrong-" + secrets.token_urlsafe(18)
    wrong_key = "sk-wrong-" + secrets.token_hex(12)
    profile_secret = "profile-" + secrets.token_urlsafe(18)
    profile = tmp_path / "exoscale.toml"
    profile.write_text('defaultAccount = "main"\n[[accounts]]\nname = "main"\nkey = "%s"\nsecret = "%s"\n'
                       'defaultZone = "Geneva 2"\nendpoint = "%s"\n' % (sim.key, profile_secret, sim.url))
    deployment = {"name": "secret-dep", "model": GATED, "gpu_type": "gpua5000", "gpu_count": 1}
    no_env_credentials = {"EXOSCALE_API_KEY": "", "EXOSCALE_API_SECRET": "", "EXOSCALE_CONFIG": str(profile)}

    secret_env = {"T_TOKEN": token, "T_WRONG_SECRET": wrong_secret, "T_WRONG_KEY": wrong_key}
    token_ref, wrong_secret_ref, wrong_key_ref = ("{{ lookup('ansible.builtin.env', '%s') }}" % name
                                                  for name in ("T_TOKEN", "T_WRONG_SECRET", "T_WRONG_KEY"))

    def failing(task):
        return dict(task, ignore_errors=True)

    tasks = [
        dict({"name": "model check", "inferops.exoscale.ai_model": {"name": GATED, "huggingface_token": token_ref}}, check_mode=True),
        {"name": "model", "inferops.exoscale.ai_model": {"name": GATED, "huggingface_token": token_ref}},
        dict({"name": "deploy check", "inferops.exoscale.ai_deployment": deployment}, check_mode=True),
        {"name": "deploy", "inferops.exoscale.ai_deployment": deployment, "register": "dep"},
        {"name": "scale", "inferops.exoscale.ai_deployment": dict(deployment, replicas=2)},
        {"name": "info with key", "inferops.exoscale.ai_deployment_info": {"name": "secret-dep", "include_api_key": True,
                                                                           "log_lines": 3},
         "no_log": True, "register": "info"},
        {"name": "infer by name", "inferops.exoscale.ai_inference": {"deployment": "secret-dep", "prompt": "hello"}},
        {"name": "infer by url", "inferops.exoscale.ai_inference": {
            "url": "{{ dep.deployment.deployment_url }}", "inference_api_key": "{{ info.deployments[0].api_key }}",
            "prompt": "hello"}},
        failing({"name": "infer with a wrong key", "inferops.exoscale.ai_inference": {
            "url": "{{ dep.deployment.deployment_url }}", "inference_api_key": wrong_key_ref, "prompt": "hello", "retries": 0}}),
        failing({"name": "wrong secret", "inferops.exoscale.ai_deployment": dict(deployment, api_secret=wrong_secret_ref)}),
        failing({"name": "wrong secret on a model", "inferops.exoscale.ai_model": {
            "name": GATED, "huggingface_token": token_ref, "api_secret": wrong_secret_ref}}),
        failing({"name": "profile with a malformed zone", "inferops.exoscale.ai_model_info": {},
                 "environment": no_env_credentials}),
        failing({"name": "profile secret against the API", "inferops.exoscale.ai_instance_type_info": {"zone": "ch-gva-2"},
                 "environment": no_env_credentials}),
        {"name": "engine parameters", "inferops.exoscale.ai_engine_parameter_info": {}},
        {"name": "models", "inferops.exoscale.ai_model_info": {}},
        {"name": "role check", "check_mode": True, "block": [
            {"name": "role in check mode", "ansible.builtin.include_role": {"name": "inferops.exoscale.serve_model"},
             "vars": {"serve_model_name": GATED, "serve_model_deployment_name": "secret-dep",
                      "serve_model_huggingface_token": token_ref, "serve_model_replicas": 1}}]},
        {"name": "role", "ansible.builtin.include_role": {"name": "inferops.exoscale.serve_model"},
         "vars": {"serve_model_name": GATED, "serve_model_deployment_name": "secret-dep",
                  "serve_model_huggingface_token": token_ref, "serve_model_smoke_retry_delay": 0.2}},
        {"name": "role with a wrong secret", "ignore_errors": True,
         "module_defaults": {"group/inferops.exoscale.all": {"api_secret": wrong_secret_ref}}, "block": [
             {"name": "role failing", "ansible.builtin.include_role": {"name": "inferops.exoscale.serve_model"},
              "vars": {"serve_model_name": GATED, "serve_model_huggingface_token": token_ref}}]},
    ]
    run = play(tasks, "-vvv", "--diff", env=secret_env)
    state = sim.control.state()
    deployments = [d for d in state["zones"]["ch-gva-2"]["deployments"].values() if d["name"] == "secret-dep"]
    # the secrets were really used: the gated model downloaded, the key answered, the failures are the expected ones
    assert run.records and run.status("deploy") == "changed", run.output[-4000:]
    assert run.status("infer by name") == "ok" and run.status("infer by url") == "ok", run.output[-4000:]
    assert "HTTP 401" in run.result("infer with a wrong key")["msg"]
    assert "HTTP 403" in run.result("wrong secret")["msg"]
    assert "zone 'Geneva 2' is not a zone name" in run.result("profile with a malformed zone")["msg"]
    assert "HTTP 403" in run.result("profile secret against the API")["msg"]
    assert len(private_deployments(state, "secret-dep")) == 1
    api_key = next(r["result"] for r in run.records if r["task"] == "info with key")
    keys = [d.get("api-key") for d in deployments]
    recorded = "".join(path.read_text() for path in sorted(tmp_path.glob("records-*.json")))
    revealed = [k for k in keys if k]
    assert revealed and all(len(k) > 10 for k in revealed)
    history = [r for r in sim.control.requests() if r["path"].endswith("/api-key") and r["status"] == 200]
    assert history, "the API key was never revealed"
    values = {"api_secret": sim.secret, "huggingface_token": token, "wrong api_secret": wrong_secret,
              "wrong inference key": wrong_key, "profile secret": profile_secret}
    for index, key in enumerate(revealed):
        values["deployment api key %d" % index] = key
    scans = 0
    leaks = []
    for name, value in values.items():
        for where, text in (("stdout", run.stdout), ("stderr", run.stderr), ("callback records", recorded)):
            scans += 1
            if value and value in text:
                leaks.append("%s in %s" % (name, where))
    record("test_no_secret_in_any_output", secret_scans=scans)
    assert not leaks, [leaks] + [line for line in run.stdout.splitlines() if wrong_secret in line][:5]
    assert api_key.get("censored") or "deployments" not in api_key
