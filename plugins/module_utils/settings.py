# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Where and as whom a task acts: credentials, profile file, zone and endpoint, checked before any request."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import os
import re
from urllib.parse import urlsplit

from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused

DEFAULT_ZONE = "ch-gva-2"
# One HTTP request: below 0.1 s nothing answers, above an hour a hung connection holds the task (and its
# operation) for longer than any wait the modules allow.
API_TIMEOUT_RANGE = (0.1, 3600.0)
ZONE_PATTERN = re.compile(r"[a-z]{2}-[a-z]+-[0-9]+")


class ConfigError(Refused):
    """Settings that cannot work or contradict each other, found before any API request."""


def profile_path():
    if os.environ.get("EXOSCALE_CONFIG"):
        return os.environ["EXOSCALE_CONFIG"]
    config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(config_home, "exoscale", "exoscale.toml")


def load_profile(name, path=None):
    """The account ``name`` (else ``defaultAccount``) of the official CLI's ``exoscale.toml``; {} if no file."""
    path = path or profile_path()
    if not os.path.exists(path):
        if name:
            raise ConfigError("api_profile is %r but the profile file %s does not exist." % (name, path))
        return {}
    try:
        import tomllib  # only when a profile file exists: a task with explicit credentials does not import it
    except ImportError:  # Python < 3.11: profiles need explicit credentials instead
        raise ConfigError("Reading the profile file %s needs Python 3.11 or later; pass api_key and api_secret instead." % path)
    try:
        with open(path, "rb") as handle:
            config = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError("Cannot read the Exoscale profile file %s: %s" % (path, exc))
    accounts = config.get("accounts") or []
    if not isinstance(accounts, list) or not all(isinstance(a, dict) for a in accounts):
        raise ConfigError("The profile file %s has no valid [[accounts]] entries." % path)
    wanted = name or config.get("defaultAccount")
    if not wanted:
        if name is None and len(accounts) == 1:
            return accounts[0]
        raise ConfigError("The profile file %s has no defaultAccount; set api_profile to one of: %s."
                          % (path, ", ".join(sorted(str(a.get("name")) for a in accounts)) or "(none)"))
    for account in accounts:
        if account.get("name") == wanted:
            return account
    raise ConfigError("The profile file %s has no account named %r; accounts: %s."
                      % (path, wanted, ", ".join(sorted(str(a.get("name")) for a in accounts)) or "(none)"))


# The environment variables of the official CLI, read here rather than as option fallbacks so that an
# option given in the task can be told apart from the environment.
ENVIRONMENT = dict(api_key="EXOSCALE_API_KEY", api_secret="EXOSCALE_API_SECRET", api_profile="EXOSCALE_ACCOUNT",
                   zone="EXOSCALE_ZONE", api_url="EXOSCALE_API_ENDPOINT")
# A zone named by the URL itself: an Exoscale host (api-<zone>.exoscale.com, any environment prefix) or a
# /<zone>/v2 path (the simulator, proxies that route by zone).
EXOSCALE_HOST_ZONE = re.compile(r"^[a-z0-9]+-(%s)\.exoscale\.com$" % ZONE_PATTERN.pattern)
PATH_ZONE = re.compile(r"^(?:.*/)?(%s)/v2/?$" % ZONE_PATTERN.pattern)


def url_zone(api_url):
    """The zone an API URL names (host or path), or None."""
    parts = urlsplit(api_url)
    match = EXOSCALE_HOST_ZONE.match(parts.hostname or "") or PATH_ZONE.match(parts.path or "")
    return match.group(1) if match else None


def _given(params, environ):
    """``{setting: (value, source)}`` for the settings given as a task option or an environment variable."""
    given = {}
    for name, variable in ENVIRONMENT.items():
        if params.get(name):
            given[name] = (params[name], name)
        elif environ.get(variable):  # an empty variable (an AWX input left empty) counts as unset
            given[name] = (environ[variable], variable)
    return given


def _credentials(params, given, environ, warnings):
    """(api_key, api_secret, profile account) by precedence: task options, then an explicit profile
    (api_profile or EXOSCALE_ACCOUNT), then EXOSCALE_API_KEY/EXOSCALE_API_SECRET, then the profile file's
    default account."""
    emptied = [name for name in ("api_key", "api_secret") if params.get(name) is not None and not str(params[name]).strip()]
    if emptied:
        # An empty value in the task is a mistake (an unset variable, an empty vault entry): falling back to
        # the environment's or the profile's account would act as someone else.
        raise ConfigError("%s %s set to an empty value in the task: give the account's key and secret, or leave both"
                          " options out to use EXOSCALE_API_KEY/EXOSCALE_API_SECRET or a profile. An empty credential"
                          " is never replaced by another account's." % (" and ".join(emptied),
                                                                        "is" if len(emptied) == 1 else "are"))
    in_task = [name for name in ("api_key", "api_secret") if params.get(name)]
    profile_name, profile_source = given.get("api_profile", (None, None))
    if in_task and profile_source == "api_profile":
        raise ConfigError("%s and api_profile %r are both set in the task: they name two accounts. Keep api_profile"
                          " (the account's key and secret come from the profile file) or api_key and api_secret."
                          % (" and ".join(in_task), profile_name))
    if in_task:
        # An option the task leaves out comes from the environment, as the old fallbacks did; one the task
        # sets empty stays empty (and is reported missing).
        key = environ.get("EXOSCALE_API_KEY") if params.get("api_key") is None else params["api_key"]
        secret = environ.get("EXOSCALE_API_SECRET") if params.get("api_secret") is None else params["api_secret"]
        if not (key and secret):
            missing = "api_secret" if key else "api_key"
            raise ConfigError("%s is missing: give both api_key and api_secret (or EXOSCALE_API_KEY and"
                              " EXOSCALE_API_SECRET), or neither to use a profile." % missing)
        if profile_name:
            warnings.append("EXOSCALE_ACCOUNT (%r) is ignored: the task sets %s." % (profile_name, " and ".join(in_task)))
        return key, secret, {}
    env_key, env_secret = environ.get("EXOSCALE_API_KEY"), environ.get("EXOSCALE_API_SECRET")
    if profile_name:
        profile = load_profile(profile_name)
        ignored = [v for v in ("EXOSCALE_API_KEY", "EXOSCALE_API_SECRET") if environ.get(v)]
        if ignored:
            warnings.append("%s %s ignored: %s %r names the account, so its key and secret from the profile file"
                            " are used." % (" and ".join(ignored), "is" if len(ignored) == 1 else "are",
                                            profile_source, profile_name))
        return profile.get("key"), profile.get("secret"), profile
    if env_key or env_secret:
        if not (env_key and env_secret):
            missing = "EXOSCALE_API_SECRET" if env_key else "EXOSCALE_API_KEY"
            raise ConfigError("%s is missing: the environment sets only one of EXOSCALE_API_KEY and"
                              " EXOSCALE_API_SECRET; set both, or api_key and api_secret." % missing)
        return env_key, env_secret, {}
    profile = load_profile(None)
    return profile.get("key"), profile.get("secret"), profile


def resolve_settings(params, environ=None):
    """Credentials, zone and endpoint from the task's options, the environment and the profile file.

    Returns a dict with ``warnings``: what was given but is not applied (the caller shows them).
    Raises ConfigError for settings that contradict each other or cannot work, before any request.
    """
    environ = os.environ if environ is None else environ
    warnings = []
    given = _given(params, environ)
    api_key, api_secret, profile = _credentials(params, given, environ, warnings)
    if not api_key or not api_secret:
        raise ConfigError("No Exoscale credentials: set api_key and api_secret, the EXOSCALE_API_KEY and"
                          " EXOSCALE_API_SECRET environment variables, or an account in %s." % profile_path())

    zone, zone_source = given.get("zone") or (profile.get("defaultZone"), None)
    if zone and not ZONE_PATTERN.fullmatch(zone):
        raise ConfigError("zone %r is not a zone name: expected a name like ch-gva-2, de-fra-1 or at-vie-1." % zone)

    api_url, url_source = given.get("api_url") or (profile.get("endpoint"), "the profile's endpoint")
    if api_url and "{zone}" in api_url:
        api_url = api_url.replace("{zone}", zone or DEFAULT_ZONE)
    elif api_url:
        named = url_zone(api_url)
        # A zone given on purpose (option or EXOSCALE_ZONE) must agree; a profile's defaultZone yields.
        if named and zone_source and named != zone:
            raise ConfigError("zone is %s (from %s) but the API URL %s (from %s) is the endpoint of zone %s: the task"
                              " would act on %s. Set one of them only, or put {zone} into the URL."
                              % (zone, zone_source, api_url, url_source, named, named))
        if not named and zone_source == "zone":
            warnings.append("zone %s is not applied: the API URL %s (from %s) names no zone and has no {zone}"
                            " placeholder, so the task acts on whatever zone that endpoint serves. Put {zone} into"
                            " the URL, or leave zone unset." % (zone, api_url, url_source))
        zone = named or zone
    zone = zone or DEFAULT_ZONE
    if api_url:
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("api_url %r is not an http(s) URL: expected for example"
                              " https://api-ch-gva-2.exoscale.com/v2." % api_url)
    else:
        api_url = "https://%s-%s.exoscale.com/v2" % (environ.get("EXOSCALE_API_ENVIRONMENT") or "api", zone)
    timeout = check_timeout(params.get("api_timeout"))
    return dict(api_key=api_key, api_secret=api_secret, zone=zone, api_url=api_url,
                timeout=timeout or 30.0, validate_certs=params.get("validate_certs", True), warnings=warnings)


def check_timeout(timeout, option="api_timeout", allowed=API_TIMEOUT_RANGE):
    """``timeout`` as a float when it is a finite number of seconds within ``allowed``; None stays None."""
    if timeout is None:
        return None
    try:
        seconds = float(timeout)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not (math.isfinite(seconds) and allowed[0] <= seconds <= allowed[1]):
        raise ConfigError("%s must be a positive number of seconds from %g to %g, got %s."
                          % (option, allowed[0], allowed[1], timeout))
    return seconds
