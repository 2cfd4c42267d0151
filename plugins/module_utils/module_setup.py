# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The shared options of every module, the AnsibleModule and API client they start with, and failure results."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.inferops.exoscale.plugins.module_utils.client import (
    HAS_HTTPX,
    HTTPX_IMPORT_ERROR,
    ExoscaleClient,
)
from ansible_collections.inferops.exoscale.plugins.module_utils.settings import ConfigError, resolve_settings


def exoscale_argument_spec(**options):
    """The shared connection options plus a module's own ``options``."""
    spec = dict(
        api_key=dict(type="str", no_log=False, fallback=(env_fallback, ["EXOSCALE_API_KEY"])),
        api_secret=dict(type="str", no_log=True, fallback=(env_fallback, ["EXOSCALE_API_SECRET"])),
        api_profile=dict(type="str", fallback=(env_fallback, ["EXOSCALE_ACCOUNT"])),
        zone=dict(type="str", fallback=(env_fallback, ["EXOSCALE_ZONE"])),
        api_url=dict(type="str", fallback=(env_fallback, ["EXOSCALE_API_ENDPOINT"])),
        api_timeout=dict(type="float", default=30.0),
        validate_certs=dict(type="bool", default=True),
    )
    spec.update(options)
    return spec


def client_from_module(module):
    if not HAS_HTTPX:
        module.fail_json(msg=missing_required_lib("httpx"), exception=HTTPX_IMPORT_ERROR)
    try:
        settings = resolve_settings(module.params)
    except ConfigError as exc:
        module.fail_json(msg=str(exc))
    module.no_log_values.add(settings["api_secret"])
    return ExoscaleClient(settings["api_key"], settings["api_secret"], settings["api_url"],
                          timeout=settings["timeout"], validate_certs=settings["validate_certs"])


def exoscale_module(argument_spec, **kwargs):
    """An AnsibleModule with the shared options; check mode is supported by every module."""
    kwargs.setdefault("supports_check_mode", True)
    return AnsibleModule(argument_spec=exoscale_argument_spec(**argument_spec), **kwargs)


def fail_from_error(module, error, **extra):
    """Turn an ExoscaleError into ``fail_json`` with its structured details."""
    module.fail_json(msg=str(error), api_error=error.details(), **extra)
