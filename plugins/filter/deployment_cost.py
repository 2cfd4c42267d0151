# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The filter inferops.exoscale.deployment_cost: cost per hour of a deployment at the user's prices (cost.py)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.inferops.exoscale.plugins.module_utils.cost import deployment_cost as _deployment_cost
from ansible_collections.inferops.exoscale.plugins.module_utils.cost import validate_prices
from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused


def deployment_cost(deployment, prices):
    """``{currency, per_hour}`` of ``deployment`` ({gpu_type, gpu_count, replicas}); per_hour None without a price."""
    try:
        validate_prices(prices)
    except Refused as exc:
        raise AnsibleFilterError(str(exc))
    if not isinstance(deployment, dict):
        raise AnsibleFilterError("deployment_cost: a deployment {gpu_type, gpu_count, replicas} is required, got %r"
                                 % (deployment,))
    return dict(currency=prices["currency"], per_hour=_deployment_cost(deployment, prices))


class FilterModule(object):
    def filters(self):
        return {"deployment_cost": deployment_cost}
