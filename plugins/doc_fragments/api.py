# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  api_key:
    description:
      - Exoscale API key.
      - If not set, the value of the E(EXOSCALE_API_KEY) environment variable is used, then the account
        selected by O(api_profile) in the official CLI's profile file.
    type: str
  api_secret:
    description:
      - Exoscale API secret. Never logged.
      - If not set, the value of the E(EXOSCALE_API_SECRET) environment variable is used, then the profile file.
    type: str
  api_profile:
    description:
      - Name of the account to use from the official CLI's profile file C(exoscale.toml)
        (E(EXOSCALE_CONFIG), else C($XDG_CONFIG_HOME/exoscale/exoscale.toml), else C(~/.config/exoscale/exoscale.toml)).
      - If not set, the value of the E(EXOSCALE_ACCOUNT) environment variable is used, then the file's C(defaultAccount).
      - The profile is read only when O(api_key) and O(api_secret) are not given, or when O(api_profile) is set.
    type: str
  zone:
    description:
      - Exoscale zone, for example C(ch-gva-2), C(de-fra-1) or C(at-vie-1). Models and deployments are zone-local.
      - If not set, the value of the E(EXOSCALE_ZONE) environment variable is used, then the profile's C(defaultZone),
        then C(ch-gva-2).
    type: str
  api_url:
    description:
      - Full base URL of the API including C(/v2), for example C(https://api-ch-gva-2.exoscale.com/v2).
        A C({zone}) placeholder is replaced by O(zone).
      - If not set, the value of the E(EXOSCALE_API_ENDPOINT) environment variable is used, then the profile's
        C(endpoint), then C(https://api-<zone>.exoscale.com/v2) (E(EXOSCALE_API_ENVIRONMENT) replaces the C(api) prefix).
    type: str
  api_timeout:
    description:
      - Timeout in seconds of one HTTP request to the API.
    type: float
    default: 30
  validate_certs:
    description:
      - Whether to verify the API's TLS certificate.
    type: bool
    default: true
requirements:
  - python >= 3.9
  - httpx
notes:
  - Requests are signed with EXO2-HMAC-SHA256 and expire after 10 minutes, so the clock of the host that runs
    the module must be right.
  - Reads are retried on connection errors, timeouts, HTTP 429, 502, 503 and 504 with capped exponential backoff
    and jitter, honouring C(Retry-After). A create whose response is lost is never sent twice blindly; the module
    looks the resource up by name first.
'''

    ACTIONGROUP = r'''
attributes:
  action_group:
    description: Use C(group/inferops.exoscale.all) in C(module_defaults) to set the shared options once.
    support: full
    membership:
      - inferops.exoscale.all
'''
