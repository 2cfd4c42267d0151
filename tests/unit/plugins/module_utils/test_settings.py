# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Shared options, settings resolution (options, environment, exoscale.toml profiles) and helpers."""

import contextlib
import json

import pytest

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19 (the version matrix runs these tests on 2.16 too)
    from ansible.module_utils import basic
    from ansible.module_utils.common.text.converters import to_bytes

    @contextlib.contextmanager
    def patch_module_args(args):
        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved

from ansible_collections.inferops.exoscale.plugins.module_utils.client import ExoscaleClient, ExoscaleError
from ansible_collections.inferops.exoscale.plugins.module_utils.convert import (
    AmbiguousName,
    pick_one,
    to_snake,
)
from ansible_collections.inferops.exoscale.plugins.module_utils.module_setup import (
    client_from_module,
    exoscale_argument_spec,
    exoscale_module,
    fail_from_error,
)
from ansible_collections.inferops.exoscale.plugins.module_utils.settings import (
    ConfigError,
    load_profile,
    resolve_settings,
)

ENV_NAMES = ["EXOSCALE_API_KEY", "EXOSCALE_API_SECRET", "EXOSCALE_ACCOUNT", "EXOSCALE_ZONE",
             "EXOSCALE_API_ENDPOINT", "EXOSCALE_CONFIG", "XDG_CONFIG_HOME"]

PROFILE = '''
defaultAccount = "prod"

[[accounts]]
name = "dev"
key = "EXOdevkey"
secret = "dev-secret"
defaultZone = "de-fra-1"

[[accounts]]
name = "prod"
key = "EXOprodkey"
secret = "prod-secret"
defaultZone = "at-vie-1"
endpoint = "https://api-{zone}.example.test/v2"
'''


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No EXOSCALE_* variables, and a config home with no profile file, unless a test sets them."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "empty-config-home"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def profile(tmp_path, monkeypatch):
    def write(text=PROFILE):
        path = tmp_path / "exoscale.toml"
        path.write_text(text, encoding="utf-8")
        monkeypatch.setenv("EXOSCALE_CONFIG", str(path))
        return str(path)
    return write


def params(**kwargs):
    base = dict(api_key=None, api_secret=None, api_profile=None, zone=None, api_url=None,
                api_timeout=30.0, validate_certs=True)
    base.update(kwargs)
    return base


# ---------------------------------------------------------------------------------------------
# Argument spec
# ---------------------------------------------------------------------------------------------

def test_argument_spec_merges_module_options():
    spec = exoscale_argument_spec(name=dict(type="str", required=True), wait=dict(type="bool", default=True))
    assert spec["name"] == dict(type="str", required=True)
    assert spec["wait"] == dict(type="bool", default=True)
    for shared in ("api_key", "api_secret", "api_profile", "zone", "api_url", "api_timeout", "validate_certs"):
        assert shared in spec
    assert spec["api_secret"]["no_log"] is True
    # The environment is read by resolve_settings, which must tell an option from an environment variable.
    for shared in ("api_key", "api_secret", "api_profile", "zone", "api_url"):
        assert "fallback" not in spec[shared]
    assert spec["validate_certs"]["default"] is True


def test_argument_spec_calls_are_independent():
    exoscale_argument_spec(extra=dict(type="int"))
    assert "extra" not in exoscale_argument_spec()


# ---------------------------------------------------------------------------------------------
# Credentials
# ---------------------------------------------------------------------------------------------

def test_explicit_key_and_secret():
    settings = resolve_settings(params(api_key="EXOk", api_secret="s"))
    assert settings == dict(api_key="EXOk", api_secret="s", zone="ch-gva-2",
                            api_url="https://api-ch-gva-2.exoscale.com/v2", timeout=30.0, validate_certs=True,
                            warnings=[])


def test_explicit_credentials_ignore_the_default_profile(profile):
    profile()
    settings = resolve_settings(params(api_key="EXOk", api_secret="s"))
    assert (settings["api_key"], settings["zone"]) == ("EXOk", "ch-gva-2")
    assert settings["api_url"] == "https://api-ch-gva-2.exoscale.com/v2"


@pytest.mark.parametrize("given, missing", [(dict(api_key="EXOk"), "api_secret"), (dict(api_secret="s"), "api_key")])
def test_only_one_of_key_and_secret(given, missing, profile):
    profile()  # a usable profile must not paper over the half-given credentials
    with pytest.raises(ConfigError) as info:
        resolve_settings(params(**given))
    assert str(info.value).startswith(missing + " is missing")


def test_no_credentials_anywhere_names_the_profile_path(tmp_path):
    with pytest.raises(ConfigError) as info:
        resolve_settings(params())
    assert "No Exoscale credentials" in str(info.value)
    assert str(tmp_path / "empty-config-home" / "exoscale" / "exoscale.toml") in str(info.value)


def test_profile_default_account(profile):
    profile()
    settings = resolve_settings(params())
    assert (settings["api_key"], settings["api_secret"]) == ("EXOprodkey", "prod-secret")
    assert settings["zone"] == "at-vie-1"
    assert settings["api_url"] == "https://api-at-vie-1.example.test/v2"


def test_profile_chosen_by_api_profile(profile):
    profile()
    settings = resolve_settings(params(api_profile="dev"))
    assert (settings["api_key"], settings["api_secret"], settings["zone"]) == ("EXOdevkey", "dev-secret", "de-fra-1")
    assert settings["api_url"] == "https://api-de-fra-1.exoscale.com/v2"


@pytest.mark.parametrize("given", [dict(api_key="EXOk", api_secret="s"), dict(api_key="EXOk"), dict(api_secret="s")])
def test_task_credentials_together_with_api_profile_are_refused(given, profile):
    profile()
    with pytest.raises(ConfigError) as info:
        resolve_settings(params(api_profile="dev", **given))
    message = str(info.value)
    assert "api_profile 'dev'" in message and " and ".join(sorted(given)) in message
    assert "two accounts" in message and "s3cret" not in message


def test_profile_found_under_xdg_config_home(tmp_path, monkeypatch):
    config = tmp_path / "xdg" / "exoscale"
    config.mkdir(parents=True)
    (config / "exoscale.toml").write_text(PROFILE, encoding="utf-8")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert resolve_settings(params())["api_key"] == "EXOprodkey"


def test_unknown_profile_lists_accounts(profile):
    path = profile()
    with pytest.raises(ConfigError) as info:
        resolve_settings(params(api_profile="staging"))
    message = str(info.value)
    assert "'staging'" in message
    assert "dev, prod" in message
    assert path in message


def test_no_default_account_with_several_accounts_lists_them(profile):
    profile(PROFILE.replace('defaultAccount = "prod"', ""))
    with pytest.raises(ConfigError) as info:
        resolve_settings(params())
    assert "defaultAccount" in str(info.value)
    assert "dev, prod" in str(info.value)


def test_single_account_without_default_is_used(profile):
    profile('[[accounts]]\nname = "only"\nkey = "EXOonly"\nsecret = "only-secret"\n')
    assert resolve_settings(params())["api_key"] == "EXOonly"


def test_malformed_toml_is_a_clear_error(profile):
    path = profile('defaultAccount = "prod"\n[[accounts]\nname = \n')
    with pytest.raises(ConfigError) as info:
        resolve_settings(params())
    assert "Cannot read the Exoscale profile file" in str(info.value)
    assert path in str(info.value)


def test_accounts_of_the_wrong_shape(profile):
    path = profile('accounts = "nope"\n')
    with pytest.raises(ConfigError) as info:
        resolve_settings(params())
    assert "[[accounts]]" in str(info.value) and path in str(info.value)


def test_missing_file_with_api_profile_is_an_error(tmp_path, monkeypatch):
    missing = str(tmp_path / "nowhere" / "exoscale.toml")
    monkeypatch.setenv("EXOSCALE_CONFIG", missing)
    with pytest.raises(ConfigError) as info:
        resolve_settings(params(api_profile="prod"))
    assert "'prod'" in str(info.value)
    assert missing in str(info.value)
    assert "does not exist" in str(info.value)


def test_missing_file_without_api_profile_is_empty(tmp_path):
    assert load_profile(None, path=str(tmp_path / "absent.toml")) == {}


def test_profile_account_without_secret_is_no_credentials(profile):
    profile('[[accounts]]\nname = "half"\nkey = "EXOhalf"\n')
    with pytest.raises(ConfigError, match="No Exoscale credentials"):
        resolve_settings(params())


# ---------------------------------------------------------------------------------------------
# Zone, endpoint, timeout
# ---------------------------------------------------------------------------------------------

def test_zone_from_option_wins_over_profile(profile):
    profile()
    settings = resolve_settings(params(zone="hr-zag-1"))
    assert settings["zone"] == "hr-zag-1"
    assert settings["api_url"] == "https://api-hr-zag-1.example.test/v2"


def test_default_zone():
    assert resolve_settings(params(api_key="k", api_secret="s"))["zone"] == "ch-gva-2"


# docs/api-facts.md: the zones known today.
DOCUMENTED_ZONES = ["at-vie-1", "at-vie-2", "bg-sof-1", "ch-dk-2", "ch-gva-2", "de-fra-1", "de-muc-1", "hr-zag-1"]


@pytest.mark.parametrize("zone", [z for z in DOCUMENTED_ZONES if z != "ch-dk-2"])
def test_documented_zones_accepted(zone):
    settings = resolve_settings(params(api_key="k", api_secret="s", zone=zone))
    assert (settings["zone"], settings["api_url"]) == (zone, "https://api-%s.exoscale.com/v2" % zone)


def test_documented_zone_ch_dk_2_accepted():
    settings = resolve_settings(params(api_key="k", api_secret="s", zone="ch-dk-2"))
    assert settings["api_url"] == "https://api-ch-dk-2.exoscale.com/v2"


@pytest.mark.parametrize("zone", ["hr-zag-1", "bg-sof-1", "xx-new-12"])
def test_unknown_but_well_formed_zone_accepted(zone):
    settings = resolve_settings(params(api_key="k", api_secret="s", zone=zone))
    assert settings["api_url"] == "https://api-%s.exoscale.com/v2" % zone


@pytest.mark.parametrize("zone", ["CH-GVA-2", "ch_gva_2", "ch-gva", "gva", "ch-gva-2/x", "api.evil.com/#",
                                  " ch-gva-2", "ch-gva-2 "])
def test_malformed_zone_rejected(zone):
    with pytest.raises(ConfigError) as info:
        resolve_settings(params(api_key="k", api_secret="s", zone=zone))
    assert repr(zone) in str(info.value)


def test_zone_with_trailing_newline_rejected():
    with pytest.raises(ConfigError):
        resolve_settings(params(api_key="k", api_secret="s", zone="ch-gva-2\n"))


def test_api_url_zone_placeholder():
    settings = resolve_settings(params(api_key="k", api_secret="s", zone="de-fra-1",
                                       api_url="http://127.0.0.1:8080/{zone}/v2"))
    assert settings["api_url"] == "http://127.0.0.1:8080/de-fra-1/v2"


def test_api_url_without_placeholder_is_kept():
    settings = resolve_settings(params(api_key="k", api_secret="s", zone="de-fra-1", api_url="http://localhost:1/v2"))
    assert settings["api_url"] == "http://localhost:1/v2"


@pytest.mark.parametrize("url", ["ftp://api.example.com/v2", "api-ch-gva-2.exoscale.com/v2", "http://", "/v2",
                                 "file:///etc/passwd"])
def test_non_http_api_url_rejected(url):
    with pytest.raises(ConfigError) as info:
        resolve_settings(params(api_key="k", api_secret="s", api_url=url))
    assert "api_url" in str(info.value) and repr(url) in str(info.value)


@pytest.mark.parametrize("timeout", [0, -1, -0.5, 0.0])
def test_non_positive_timeout_rejected(timeout):
    with pytest.raises(ConfigError, match="api_timeout"):
        resolve_settings(params(api_key="k", api_secret="s", api_timeout=timeout))


def test_timeout_and_validate_certs_passed_through():
    settings = resolve_settings(params(api_key="k", api_secret="s", api_timeout=2.5, validate_certs=False))
    assert settings["timeout"] == 2.5 and settings["validate_certs"] is False
    assert resolve_settings(params(api_key="k", api_secret="s", api_timeout=None))["timeout"] == 30.0


# ---------------------------------------------------------------------------------------------
# Who: task options, then an explicit profile, then environment keys, then the default account
# ---------------------------------------------------------------------------------------------

def task_settings(options, monkeypatch, **environment):
    """What a task with ``options`` resolves to in ``environment``, through the real AnsibleModule argument
    parsing of the shared options (where fallbacks used to fold the environment into the options)."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with patch_module_args(options):
        module = exoscale_module({})
    return resolve_settings(module.params)


ENV_KEYS = dict(EXOSCALE_API_KEY="EXOenvkey", EXOSCALE_API_SECRET="env-secret")


@pytest.mark.parametrize("how", ["option", "EXOSCALE_ACCOUNT"])
def test_an_explicit_profile_wins_over_environment_keys_with_a_warning(how, profile, monkeypatch):
    profile()
    options = {"api_profile": "dev"} if how == "option" else {}
    environment = dict(ENV_KEYS, **({"EXOSCALE_ACCOUNT": "dev"} if how != "option" else {}))
    settings = task_settings(options, monkeypatch, **environment)
    assert (settings["api_key"], settings["api_secret"], settings["zone"]) == ("EXOdevkey", "dev-secret", "de-fra-1")
    [warning] = settings["warnings"]
    assert "EXOSCALE_API_KEY and EXOSCALE_API_SECRET are ignored" in warning
    assert ("api_profile" if how == "option" else "EXOSCALE_ACCOUNT") in warning and "'dev'" in warning
    assert "env-secret" not in warning and "dev-secret" not in warning


def test_task_keys_win_over_an_environment_profile_with_a_warning(profile, monkeypatch):
    profile()
    settings = task_settings({"api_key": "EXOtask", "api_secret": "task-secret"}, monkeypatch,
                             EXOSCALE_ACCOUNT="dev", **ENV_KEYS)
    assert (settings["api_key"], settings["api_secret"], settings["zone"]) == ("EXOtask", "task-secret", "ch-gva-2")
    assert settings["warnings"] == ["EXOSCALE_ACCOUNT ('dev') is ignored: the task sets api_key and api_secret."]


def test_task_keys_win_over_environment_keys(monkeypatch):
    settings = task_settings({"api_key": "EXOtask", "api_secret": "task-secret"}, monkeypatch, **ENV_KEYS)
    assert (settings["api_key"], settings["api_secret"], settings["warnings"]) == ("EXOtask", "task-secret", [])


def test_environment_keys_win_over_the_default_account(profile, monkeypatch):
    profile()
    settings = task_settings({}, monkeypatch, **ENV_KEYS)
    assert (settings["api_key"], settings["api_secret"]) == ("EXOenvkey", "env-secret")
    assert settings["zone"] == "ch-gva-2", "the default account's defaultZone belongs to another account"


def test_the_default_account_comes_last(profile, monkeypatch):
    profile()
    settings = task_settings({}, monkeypatch)
    assert (settings["api_key"], settings["api_secret"]) == ("EXOprodkey", "prod-secret")


def test_api_profile_and_keys_in_the_task_are_refused_through_the_module(profile, monkeypatch):
    profile()
    with pytest.raises(ConfigError, match="api_key and api_secret and api_profile 'dev' are both set in the task"):
        task_settings({"api_key": "EXOtask", "api_secret": "task-secret", "api_profile": "dev"}, monkeypatch)


def test_a_key_in_the_task_takes_its_secret_from_the_environment(monkeypatch):
    """module_defaults may name the key and leave the secret to the environment (as the old fallbacks allowed)."""
    settings = task_settings({"api_key": "EXOtask"}, monkeypatch, EXOSCALE_API_SECRET="env-secret")
    assert (settings["api_key"], settings["api_secret"]) == ("EXOtask", "env-secret")


def test_a_secret_the_task_sets_empty_is_missing_not_taken_from_the_environment(monkeypatch):
    with pytest.raises(ConfigError, match="api_secret is set to an empty value"):
        task_settings({"api_key": "EXOtask", "api_secret": ""}, monkeypatch, EXOSCALE_API_SECRET="env-secret")


@pytest.mark.parametrize("variable, missing", [("EXOSCALE_API_KEY", "EXOSCALE_API_SECRET"),
                                               ("EXOSCALE_API_SECRET", "EXOSCALE_API_KEY")])
def test_half_of_the_environment_keys_is_an_error(variable, missing, profile, monkeypatch):
    profile()
    with pytest.raises(ConfigError) as info:
        task_settings({}, monkeypatch, **{variable: "x"})
    assert str(info.value).startswith(missing + " is missing")


def test_empty_environment_variables_count_as_unset(monkeypatch):
    """An AWX credential renders inputs left empty as empty strings."""
    settings = task_settings({}, monkeypatch, EXOSCALE_API_ENDPOINT="", EXOSCALE_ACCOUNT="", EXOSCALE_ZONE="de-fra-1",
                             **ENV_KEYS)
    assert settings["api_url"] == "https://api-de-fra-1.exoscale.com/v2" and settings["warnings"] == []


# ---------------------------------------------------------------------------------------------
# Where: a URL that names a zone must agree with zone; a zone the URL cannot apply is said
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("url, named", [
    ("https://api-ch-gva-2.exoscale.com/v2", "ch-gva-2"),
    ("https://ppapi-ch-gva-2.exoscale.com/v2", "ch-gva-2"),
    ("http://127.0.0.1:8080/ch-gva-2/v2", "ch-gva-2"),
    ("http://127.0.0.1:8080/at-vie-1/v2/", "at-vie-1"),
])
def test_a_url_naming_another_zone_is_refused_naming_both(url, named, monkeypatch):
    with pytest.raises(ConfigError) as info:
        task_settings({"api_key": "k", "api_secret": "s", "zone": "de-fra-1", "api_url": url}, monkeypatch)
    message = str(info.value)
    assert "zone is de-fra-1 (from zone)" in message and url in message and "zone %s" % named in message
    assert "{zone}" in message


def test_environment_zone_and_endpoint_that_disagree_are_refused(monkeypatch):
    with pytest.raises(ConfigError) as info:
        task_settings({}, monkeypatch, EXOSCALE_ZONE="de-fra-1",
                      EXOSCALE_API_ENDPOINT="https://api-ch-gva-2.exoscale.com/v2", **ENV_KEYS)
    assert "from EXOSCALE_ZONE" in str(info.value) and "from EXOSCALE_API_ENDPOINT" in str(info.value)


@pytest.mark.parametrize("zone", [None, "de-fra-1"])
def test_a_url_naming_the_zone_sets_it(zone, monkeypatch):
    options = {"api_key": "k", "api_secret": "s", "api_url": "https://api-de-fra-1.exoscale.com/v2"}
    if zone:
        options["zone"] = zone
    settings = task_settings(options, monkeypatch)
    assert (settings["zone"], settings["api_url"], settings["warnings"]) == (
        "de-fra-1", "https://api-de-fra-1.exoscale.com/v2", [])


def test_a_profile_default_zone_yields_to_a_url_naming_a_zone(profile, monkeypatch):
    profile()
    settings = task_settings({"api_profile": "dev", "api_url": "https://api-at-vie-1.exoscale.com/v2"}, monkeypatch)
    assert (settings["zone"], settings["warnings"]) == ("at-vie-1", [])


def test_a_zone_option_the_url_cannot_apply_is_warned_about(monkeypatch):
    settings = task_settings({"api_key": "k", "api_secret": "s", "zone": "de-fra-1"}, monkeypatch,
                             EXOSCALE_API_ENDPOINT="http://127.0.0.1:8080/v2")
    assert settings["api_url"] == "http://127.0.0.1:8080/v2"
    [warning] = settings["warnings"]
    assert warning.startswith("zone de-fra-1 is not applied: the API URL http://127.0.0.1:8080/v2 (from"
                              " EXOSCALE_API_ENDPOINT) names no zone")


def test_an_environment_zone_the_url_cannot_apply_is_not_warned_about(monkeypatch):
    """EXOSCALE_ZONE is often set for every job (an AWX credential requires it): only the option warns."""
    settings = task_settings({}, monkeypatch, EXOSCALE_ZONE="de-fra-1", EXOSCALE_API_ENDPOINT="http://127.0.0.1:8/v2",
                             **ENV_KEYS)
    assert settings["warnings"] == []


def test_client_from_module_emits_the_settings_warnings():
    module = FakeModule(params(api_key="EXOk", api_secret="s", zone="de-fra-1", api_url="http://localhost:1/v2"))
    client = client_from_module(module)
    client.close()
    assert len(module.warnings) == 1 and "zone de-fra-1 is not applied" in module.warnings[0]


# ---------------------------------------------------------------------------------------------
# Module glue
# ---------------------------------------------------------------------------------------------

class FailJson(Exception):
    pass


class FakeModule:
    def __init__(self, params):
        self.params = params
        self.no_log_values = set()
        self.failed = None
        self.warnings = []

    def warn(self, warning):
        self.warnings.append(warning)

    def fail_json(self, **kwargs):
        self.failed = kwargs
        raise FailJson(kwargs["msg"])


def test_client_from_module_builds_client_and_hides_secret():
    module = FakeModule(params(api_key="EXOk", api_secret="very-secret", zone="de-fra-1", api_timeout=5.0))
    client = client_from_module(module)
    try:
        assert isinstance(client, ExoscaleClient)
        assert client.base_url == "https://api-de-fra-1.exoscale.com/v2"
        assert client.api_key == "EXOk"
        assert "very-secret" in module.no_log_values
    finally:
        client.close()


def test_client_from_module_config_error_fails_module():
    module = FakeModule(params(api_key="EXOk"))
    with pytest.raises(FailJson):
        client_from_module(module)
    assert "api_secret is missing" in module.failed["msg"]


def test_fail_from_error_passes_details():
    module = FakeModule({})
    error = ExoscaleError("GET /x: HTTP 404: gone", status=404, method="GET", path="/x", api_message="gone")
    with pytest.raises(FailJson):
        fail_from_error(module, error, changed=False)
    assert module.failed["msg"] == "GET /x: HTTP 404: gone"
    assert module.failed["changed"] is False
    assert module.failed["api_error"]["status"] == 404
    assert module.failed["api_error"]["api_message"] == "gone"


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def test_to_snake_recurses_into_dicts_and_lists():
    data = {"gpu-type": "gpua5000", "model": {"id": "m", "created-at": "t"},
            "inference-engine-parameters": ["--max-model-len=4096"],
            "items": [{"state-details": "x-y", "nested-list": [{"a-b": 1}]}], "plain": None}
    assert to_snake(data) == {"gpu_type": "gpua5000", "model": {"id": "m", "created_at": "t"},
                              "inference_engine_parameters": ["--max-model-len=4096"],
                              "items": [{"state_details": "x-y", "nested_list": [{"a_b": 1}]}], "plain": None}
    assert to_snake("a-b") == "a-b"
    assert to_snake([1, "x-y"]) == [1, "x-y"]


ITEMS = [{"id": "id-1", "name": "alpha"}, {"id": "id-3", "name": "beta"}, {"id": "id-2", "name": "beta"},
         {"id": "id-4", "name": "gamma"}]


def test_pick_one_by_name():
    assert pick_one(ITEMS, "deployment", name="alpha") == ITEMS[0]
    assert pick_one(ITEMS, "deployment", name="delta") is None
    assert pick_one([], "deployment", name="alpha") is None


def test_pick_one_by_id_wins_over_name():
    assert pick_one(ITEMS, "deployment", name="alpha", resource_id="id-4") == ITEMS[3]
    assert pick_one(ITEMS, "deployment", name="beta", resource_id="id-2") == ITEMS[2]
    assert pick_one(ITEMS, "deployment", resource_id="id-9") is None


def test_pick_one_ambiguous_lists_ids():
    with pytest.raises(AmbiguousName) as info:
        pick_one(ITEMS, "deployment", name="beta")
    message = str(info.value)
    assert "2 deployments" in message
    assert "'beta'" in message
    assert "id-2, id-3" in message
