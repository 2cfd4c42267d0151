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
      - Which account a task acts as, first match wins - O(api_key) and O(api_secret); else an explicit profile,
        O(api_profile) or E(EXOSCALE_ACCOUNT) (then E(EXOSCALE_API_KEY) and E(EXOSCALE_API_SECRET) are ignored,
        with a warning); else E(EXOSCALE_API_KEY) and E(EXOSCALE_API_SECRET); else the profile file's
        C(defaultAccount).
      - Refused together with O(api_profile), which names another account.
      - An empty O(api_key) or O(api_secret) in the task is refused, never replaced by the environment's or a
        profile's account.
    type: str
  api_secret:
    description:
      - Exoscale API secret. Never logged.
      - If not set, the value of the E(EXOSCALE_API_SECRET) environment variable is used, then the profile file
        (see O(api_key) for the order).
    type: str
  api_profile:
    description:
      - Name of the account to use from the official CLI's profile file C(exoscale.toml)
        (E(EXOSCALE_CONFIG), else C($XDG_CONFIG_HOME/exoscale/exoscale.toml), else C(~/.config/exoscale/exoscale.toml)).
      - If not set, the value of the E(EXOSCALE_ACCOUNT) environment variable is used, then the file's C(defaultAccount).
      - An explicit profile (this option or E(EXOSCALE_ACCOUNT)) wins over E(EXOSCALE_API_KEY) and
        E(EXOSCALE_API_SECRET). The profile file is not read when O(api_key) and O(api_secret) are given.
    type: str
  zone:
    description:
      - Exoscale zone, for example C(ch-gva-2), C(de-fra-1) or C(at-vie-1). Models and deployments are zone-local.
      - If not set, the value of the E(EXOSCALE_ZONE) environment variable is used, then the profile's C(defaultZone),
        then C(ch-gva-2).
      - The endpoint decides the zone. When O(api_url) names a zone (C(https://api-<zone>.exoscale.com/v2), or a
        C(/<zone>/v2) path), a different O(zone) or E(EXOSCALE_ZONE) is refused. When it names none and has no
        C({zone}) placeholder, O(zone) is not applied and the task warns.
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
      - Timeout in seconds of one HTTP request to the API, from V(0.1) to V(3600). Other values (also NaN and
        infinity) are refused before any request.
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
    and jitter, honouring C(Retry-After). A create whose outcome is uncertain (response lost, 502, 503, 504) is
    never sent again blindly; the module looks the resource up by name first, every time, as often as the
    retry budget (6 attempts) allows. A PATCH or scale whose answer was lost is not sent again once the
    deployment shows it.
'''

    ACTIONGROUP = r'''
attributes:
  action_group:
    description: Use C(group/inferops.exoscale.all) in C(module_defaults) to set the shared options once.
    support: full
    membership:
      - inferops.exoscale.all
'''
