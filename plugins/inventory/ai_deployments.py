# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: ai_deployments
short_description: Exoscale Dedicated Inference deployments as inventory hosts
version_added: 0.2.0
author:
  - inferops contributors (@inferops)
description:
  - Lists the AI deployments of one or more Exoscale zones and adds each one as a host, with its id, endpoint URL,
    model, state, replicas, GPU type and count and zone as host variables.
  - Groups and variables come from O(keyed_groups), O(groups) and O(compose) as in
    P(ansible.builtin.constructed#inventory); O(filters) keeps or drops deployments by Jinja2 conditions.
  - The deployment lists can be cached with any cache plugin (O(cache)); credentials are the same options and
    environment variables as the modules use.
  - The inventory source file name must end in C(ai_deployments.yml) or C(ai_deployments.yaml).
  - Each host gets C(ansible_connection=local) because a deployment is an API endpoint, not a machine to log in to;
    tasks that target it run on the controller.
extends_documentation_fragment:
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
requirements:
  - python >= 3.9
  - httpx
options:
  plugin:
    description: The name of this plugin; it marks the file as a source for it.
    required: true
    type: str
    choices:
      - inferops.exoscale.ai_deployments
  zones:
    description:
      - Zones to list the deployments of, for example V(ch-gva-2) and V(de-fra-1).
      - If not set, the value of the E(EXOSCALE_ZONE) environment variable is used (a comma-separated list),
        then the profile's C(defaultZone), then V(ch-gva-2).
      - With more than one zone, each zone must be read from its own endpoint, so an endpoint that is set
        (O(api_url), E(EXOSCALE_API_ENDPOINT) or the profile's) must contain the C({zone}) placeholder, for example
        C(https://api-{zone}.exoscale.com/v2) or C(http://127.0.0.1:8080/{zone}/v2) for the simulator. One
        endpoint for several zones is refused before any request.
    type: list
    elements: str
    env:
      - name: EXOSCALE_ZONE
  visibility:
    description:
      - V(private) lists the organisation's own deployments, V(public) the Exoscale-managed ones, V(all) both.
    type: str
    choices: [private, public, all]
    default: private
  hostname:
    description:
      - What names a host. With V(name), the host name is the deployment's name, except that every run of
        characters other than letters, digits, C(.), C(-) and C(_) becomes C(_), so that host patterns such as
        C(--limit) can name it (C(,), C(:), C(!), C(&), C([), C(*) and spaces mean something there). The real name
        is the variable C(deployment_name).
      - Deployment names are not unique; a host name already taken by another deployment, or one that Ansible
        reserves (C(all), C(ungrouped)), gives the deployment its id as host name (and a warning for the former).
    type: str
    choices: [name, id]
    default: name
  filters:
    description:
      - Conditions that decide which deployments become hosts. Each entry has one key, C(include) or C(exclude),
        whose value is a Jinja2 condition over the host variables listed in the notes (before O(compose)).
      - The first entry whose condition is true decides; a deployment that matches none is included.
    type: list
    elements: dict
    default: []
  api_key:
    description:
      - Exoscale API key.
      - If not set, the value of the E(EXOSCALE_API_KEY) environment variable is used, then the account selected by
        O(api_profile) in the official CLI's profile file.
    type: str
  api_secret:
    description:
      - Exoscale API secret. It is never cached nor put into host variables.
      - If not set, the value of the E(EXOSCALE_API_SECRET) environment variable is used, then the profile file.
    type: str
  api_profile:
    description:
      - Name of the account to use from the official CLI's profile file C(exoscale.toml)
        (E(EXOSCALE_CONFIG), else C($XDG_CONFIG_HOME/exoscale/exoscale.toml), else C(~/.config/exoscale/exoscale.toml)).
      - If not set, the value of the E(EXOSCALE_ACCOUNT) environment variable is used, then the file's C(defaultAccount).
    type: str
  api_url:
    description:
      - Full base URL of the API including C(/v2). A C({zone}) placeholder is replaced by each zone of O(zones).
      - If not set, the value of the E(EXOSCALE_API_ENDPOINT) environment variable is used, then the profile's
        C(endpoint), then C(https://api-<zone>.exoscale.com/v2).
    type: str
  api_timeout:
    description: Timeout in seconds of one HTTP request to the API.
    type: float
    default: 30
  validate_certs:
    description: Whether to verify the API's TLS certificate.
    type: bool
    default: true
notes:
  - Host variables are V(id), V(deployment_name), V(url) (the endpoint, empty until the deployment has been ready once),
    V(model), V(model_id), V(state), V(replicas), V(gpu_type), V(gpu_count), V(zone), V(visibility),
    V(service_level), V(created_at) and V(updated_at).
  - Only the deployment lists are cached (per zone, endpoint and O(visibility)), never credentials.
  - Modules that target these hosts run with the controller's Python. Set the variable C(ansible_python_interpreter)
    to C({{ ansible_playbook_python }}) in the play (or group_vars) so that they find httpx.
seealso:
  - module: inferops.exoscale.ai_deployment_info
'''

EXAMPLES = r'''
# ai_deployments.yml: every deployment of two zones, grouped by state and GPU type;
# credentials from EXOSCALE_API_KEY / EXOSCALE_API_SECRET.
plugin: inferops.exoscale.ai_deployments
zones:
  - ch-gva-2
  - de-fra-1
keyed_groups:
  - key: state
    prefix: state
  - key: gpu_type
    prefix: gpu
  - key: zone
    prefix: zone
groups:
  serving: state == 'ready' and replicas > 0
compose:
  openai_base_url: url
  gpus_in_use: gpu_count * replicas
filters:
  - exclude: deployment_name.startswith('tmp-')
  - include: state in ['ready', 'scaling', 'updating']
  - exclude: true
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/ansible-inventory
cache_timeout: 600

# Then, for example: ansible-inventory -i ai_deployments.yml --graph
'''

import os
import re
from urllib.parse import urlsplit, urlunsplit

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.inferops.exoscale.plugins.module_utils.ai import list_deployments
from ansible_collections.inferops.exoscale.plugins.module_utils.client import (
    HAS_HTTPX,
    ExoscaleClient,
    ExoscaleError,
)
from ansible_collections.inferops.exoscale.plugins.module_utils.convert import to_snake
from ansible_collections.inferops.exoscale.plugins.module_utils.settings import ConfigError, resolve_settings

SETTINGS_OPTIONS = ("api_key", "api_secret", "api_profile", "api_url", "api_timeout", "validate_certs")
FILTER_ACTIONS = ("include", "exclude")
# Host patterns (--limit, hosts:) give these characters a meaning: separators, !/& prefixes, [ ] ranges, * ? ~ ...
PATTERN_CHARACTERS = re.compile(r"[^\w.-]+", re.UNICODE)
RESERVED_HOSTNAMES = ("all", "ungrouped")


def safe_hostname(name):
    """``name`` as a host name that host patterns can name: each run of other characters becomes ``_``."""
    return PATTERN_CHARACTERS.sub("_", name or "")


def deployment_host_vars(deployment, zone):
    """The host variables of one deployment as the list endpoint returns it."""
    data = to_snake(deployment)
    model = data.get("model") or {}
    return dict(
        id=data.get("id"),
        # not "name": Ansible reserves it (a warning on every run)
        deployment_name=data.get("name"),
        url=data.get("deployment_url") or "",
        model=model.get("name"),
        model_id=model.get("id"),
        state=data.get("state"),
        replicas=data.get("replicas"),
        gpu_type=data.get("gpu_type"),
        gpu_count=data.get("gpu_count"),
        zone=zone,
        visibility=data.get("visibility"),
        service_level=data.get("service_level"),
        created_at=data.get("created_at"),
        updated_at=data.get("updated_at"),
    )


def parse_filters(filters):
    """``[(action, condition)]`` from the ``filters`` option; a refusal names the bad entry and what is allowed."""
    parsed = []
    for index, entry in enumerate(filters or []):
        if not isinstance(entry, dict) or len(entry) != 1 or next(iter(entry)) not in FILTER_ACTIONS:
            raise AnsibleParserError(
                "filters[%d] is %r: each entry must have exactly one key, include or exclude, whose value is a"
                " Jinja2 condition." % (index, entry))
        action, condition = next(iter(entry.items()))
        if not isinstance(condition, (str, bool)):
            raise AnsibleParserError("filters[%d].%s must be a Jinja2 condition (a string) or a boolean, got %r."
                                     % (index, action, condition))
        parsed.append((action, condition))
    return parsed


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = "inferops.exoscale.ai_deployments"

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(
            ("ai_deployments.yml", "ai_deployments.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        if not HAS_HTTPX:
            raise AnsibleError(missing_required_lib("httpx"))
        filters = parse_filters(self.get_option("filters"))
        zone_settings = self._zone_settings()

        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        cached = {}
        if use_cache:
            try:
                cached = self._cache[cache_key]
            except KeyError:
                update_cache = True
        # One cache entry per zone, endpoint and visibility: editing the source file never reuses lists it did not ask for.
        visibility = self.get_option("visibility")
        listed, deployments = {}, {}
        for zone, settings in zone_settings:
            entry = "%s %s %s" % (zone, settings["api_url"], visibility)
            if use_cache and isinstance(cached, dict) and entry in cached:
                listed[entry] = cached[entry]
            else:
                listed[entry] = self._fetch(settings)
                update_cache = bool(self.get_option("cache"))
            deployments[zone] = listed[entry]
        if update_cache:
            self._cache[cache_key] = listed

        self._populate(deployments, filters)

    def _zone_settings(self):
        """``[(zone, settings)]`` for every zone, checked by the modules' own settings code before any request."""
        params = dict((name, self.get_option(name)) for name in SETTINGS_OPTIONS)
        zones = [zone.strip() for zone in self.get_option("zones") or [] if zone and zone.strip()] or [None]
        if len(set(zones)) != len(zones):
            raise AnsibleParserError("zones lists a zone more than once: %s." % ", ".join(zones))
        result = []
        for zone in zones:
            try:
                settings = resolve_settings(dict(params, zone=zone))
            except ConfigError as exc:
                raise AnsibleParserError(to_native(exc))
            result.append((settings["zone"], settings))
        self._refuse_shared_endpoint(result, params)
        shown = set()
        for dummy, settings in result:
            for warning in settings["warnings"]:
                if warning not in shown:
                    shown.add(warning)
                    self.display.warning(warning)
        return result

    @staticmethod
    def _refuse_shared_endpoint(zone_settings, params):
        """Several zones read from one endpoint would list that endpoint's deployments once per zone."""
        zones_of = {}
        for zone, settings in zone_settings:
            zones_of.setdefault(settings["api_url"], []).append(zone)
        for api_url, zones in zones_of.items():
            if len(zones) < 2:
                continue
            if params.get("api_url"):
                source = "api_url"
            elif os.environ.get("EXOSCALE_API_ENDPOINT"):
                source = "EXOSCALE_API_ENDPOINT"
            else:
                source = "the profile's endpoint"
            parts = urlsplit(api_url)
            if parts.path.rstrip("/").endswith("/v2"):
                path_form = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/")[:-3] + "/{zone}/v2", "", ""))
                example = "%s (a /<zone>/v2 path) or https://api-{zone}.exoscale.com/v2" % path_form
            else:
                example = "https://api-{zone}.exoscale.com/v2"
            raise AnsibleParserError(
                "zones lists %s, but the endpoint %s (from %s) names no zone and has no {zone} placeholder: every"
                " zone would be read from that one endpoint and each of its deployments listed once per zone."
                " Give one endpoint per zone: put {zone} into %s, for example %s; or list one zone only."
                % (", ".join(zones), api_url, source, "api_url" if source == "api_url" else
                   "api_url (or %s)" % source, example))

    def _fetch(self, settings):
        visibility = self.get_option("visibility")
        client = ExoscaleClient(settings["api_key"], settings["api_secret"], settings["api_url"],
                                timeout=settings["timeout"], validate_certs=settings["validate_certs"])
        try:
            return list_deployments(client, visibility=None if visibility == "all" else visibility)
        except ExoscaleError as exc:
            raise AnsibleParserError("Cannot list the AI deployments of zone %s: %s" % (settings["zone"], to_native(exc)))
        finally:
            client.close()

    def _keep(self, filters, host_vars):
        for action, condition in filters:
            if isinstance(condition, bool):
                matched = condition
            else:
                try:
                    matched = self._compose(condition, host_vars)
                except Exception as exc:  # pylint: disable=broad-exception-caught
                    raise AnsibleParserError("Cannot evaluate the filter %s: %r for deployment %s: %s"
                                             % (action, condition, host_vars.get("deployment_name"), to_native(exc)))
                # ansible-core before 2.19 templates the condition to the text "True"/"False".
                matched = boolean(matched, strict=False) if isinstance(matched, str) else bool(matched)
            if matched:
                return action == "include"
        return True

    def _populate(self, deployments, filters):
        strict = self.get_option("strict")
        taken = {}
        for zone in deployments:
            for deployment in sorted(deployments[zone], key=lambda d: (d.get("created-at") or "", d.get("id") or "")):
                # API data is never a template (ansible-core 2.19+ treats it so anyway; older ones need wrap_var).
                host_vars = wrap_var(deployment_host_vars(deployment, zone))
                if not self._keep(filters, host_vars):
                    continue
                if self.get_option("hostname") == "id":
                    host = host_vars["id"]
                else:
                    host = safe_hostname(host_vars["deployment_name"])
                    if not host or host in RESERVED_HOSTNAMES:
                        host = host_vars["id"]
                if host in taken:
                    self.display.warning(
                        "Deployment %s (zone %s, named %r) would have the host name %r of deployment %s: its host"
                        " name is its id." % (host_vars["id"], zone, host_vars["deployment_name"], host, taken[host]))
                    host = host_vars["id"]
                taken[host] = host_vars["id"]
                self.inventory.add_host(host)
                self.inventory.set_variable(host, "ansible_connection", "local")
                for name, value in host_vars.items():
                    self.inventory.set_variable(host, name, value)
                all_vars = self.inventory.get_host(host).get_vars()
                self._set_composite_vars(self.get_option("compose"), all_vars, host, strict=strict)
                all_vars = self.inventory.get_host(host).get_vars()
                self._add_host_to_composed_groups(self.get_option("groups"), all_vars, host, strict=strict)
                self._add_host_to_keyed_groups(self.get_option("keyed_groups"), all_vars, host, strict=strict)
