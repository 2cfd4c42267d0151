# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The shared options of every module, the AnsibleModule and API client they start with, and failure results."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.inferops.exoscale.plugins.module_utils.client import (
    HAS_HTTPX,
    HTTPX_IMPORT_ERROR,
    ExoscaleClient,
    ExoscaleError,
)
from ansible_collections.inferops.exoscale.plugins.module_utils.convert import to_snake
from ansible_collections.inferops.exoscale.plugins.module_utils.settings import ConfigError, resolve_settings


def exoscale_argument_spec(**options):
    """The shared connection options plus a module's own ``options``."""
    spec = dict(
        # No env fallbacks: settings.resolve_settings reads EXOSCALE_* itself, to tell the task's options apart.
        api_key=dict(type="str", no_log=False),
        api_secret=dict(type="str", no_log=True),
        api_profile=dict(type="str"),
        zone=dict(type="str"),
        api_url=dict(type="str"),
        api_timeout=dict(type="float", default=30.0),
        validate_certs=dict(type="bool", default=True),
    )
    spec.update(options)
    return spec


def client_from_module(module, zone=None):
    """The client of the task's zone, or of ``zone`` (a module that spans zones has one client per zone)."""
    if not HAS_HTTPX:
        module.fail_json(msg=missing_required_lib("httpx"), exception=HTTPX_IMPORT_ERROR)
    try:
        settings = resolve_settings(dict(module.params, zone=zone) if zone else module.params)
    except ConfigError as exc:
        module.fail_json(msg=str(exc))
    for warning in settings["warnings"]:
        module.warn(warning)
    module.no_log_values.add(settings["api_secret"])
    return ExoscaleClient(settings["api_key"], settings["api_secret"], settings["api_url"],
                          timeout=settings["timeout"], validate_certs=settings["validate_certs"])


def exoscale_module(argument_spec, **kwargs):
    """An AnsibleModule with the shared options; check mode is supported by every module."""
    kwargs.setdefault("supports_check_mode", True)
    return AnsibleModule(argument_spec=exoscale_argument_spec(**argument_spec), **kwargs)


def fail_from_error(module, error, **extra):
    """Turn an ExoscaleError into ``fail_json`` with its structured details."""
    if error.method or error.status:
        extra["api_error"] = error.details()
    module.fail_json(msg=str(error), **extra)


def exit_with_lookup(module, key, fetch):
    """Run a read-only module: ``fetch(client)`` gives what it returns under ``key`` (no key: a dict of results)."""
    client = client_from_module(module)
    try:
        found = fetch(client)
    except ExoscaleError as exc:
        fail_from_error(module, exc)
    module.exit_json(changed=False, **to_snake({key: found} if key else found))


def wait_options(timeout):
    """The ``wait`` and ``wait_timeout`` options (doc fragment ``inferops.exoscale.wait``)."""
    return dict(wait=dict(type="bool", default=True), wait_timeout=dict(type="int", default=timeout))
