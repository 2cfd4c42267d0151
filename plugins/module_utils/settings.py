# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Where and as whom a task acts: credentials, profile file, zone and endpoint, checked before any request."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
from urllib.parse import urlsplit

try:
    import tomllib
    HAS_TOMLLIB = True
except ImportError:  # Python < 3.11: profiles need explicit credentials instead
    HAS_TOMLLIB = False

DEFAULT_ZONE = "ch-gva-2"
ZONE_PATTERN = re.compile(r"[a-z]{2}-[a-z]+-[0-9]+")


class ConfigError(Exception):
    """Settings that cannot work, found before any API request."""


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
    if not HAS_TOMLLIB:
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


def resolve_settings(params):
    """Credentials, zone and endpoint from options, environment (folded in by fallbacks) and profile."""
    api_key, api_secret = params.get("api_key"), params.get("api_secret")
    if bool(api_key) != bool(api_secret):
        missing = "api_secret" if api_key else "api_key"
        raise ConfigError("%s is missing: give both api_key and api_secret (or EXOSCALE_API_KEY and"
                          " EXOSCALE_API_SECRET), or neither to use a profile." % missing)
    profile = {}
    if not api_key or params.get("api_profile"):
        profile = load_profile(params.get("api_profile"))
        if not api_key:
            api_key, api_secret = profile.get("key"), profile.get("secret")
    if not api_key or not api_secret:
        raise ConfigError("No Exoscale credentials: set api_key and api_secret, the EXOSCALE_API_KEY and"
                          " EXOSCALE_API_SECRET environment variables, or an account in %s." % profile_path())

    zone = params.get("zone") or profile.get("defaultZone") or DEFAULT_ZONE
    if not ZONE_PATTERN.fullmatch(zone):
        raise ConfigError("zone %r is not a zone name: expected a name like ch-gva-2, de-fra-1 or at-vie-1." % zone)

    api_url = params.get("api_url") or profile.get("endpoint")
    if api_url:
        api_url = api_url.replace("{zone}", zone)
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("api_url %r is not an http(s) URL: expected for example"
                              " https://api-ch-gva-2.exoscale.com/v2." % api_url)
    else:
        api_url = "https://%s-%s.exoscale.com/v2" % (os.environ.get("EXOSCALE_API_ENVIRONMENT") or "api", zone)
    timeout = params.get("api_timeout")
    if timeout is not None and timeout <= 0:
        raise ConfigError("api_timeout must be a positive number of seconds, got %s." % timeout)
    return dict(api_key=api_key, api_secret=api_secret, zone=zone, api_url=api_url,
                timeout=timeout or 30.0, validate_certs=params.get("validate_certs", True))
