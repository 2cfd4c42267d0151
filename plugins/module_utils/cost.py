# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Cost per hour at the user's prices: replicas x gpu_count x the price of one GPU-hour of the family.

Exoscale publishes no machine-readable price list, so the collection ships no figures: ``prices`` is
``{currency: "EUR", per_gpu_hour: {<gpu family>: <number>}}`` as the user gives it.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused


def validate_prices(prices):
    """Refuse ``prices`` that are not ``{currency: str, per_gpu_hour: {family: number >= 0}}``; return it."""
    if not isinstance(prices, dict):
        raise Refused("prices must be a dict {currency: EUR, per_gpu_hour: {<gpu family>: <price>}}, got %r." % (prices,))
    unknown = sorted(set(prices) - set(("currency", "per_gpu_hour")))
    if unknown:
        raise Refused("prices: unknown keys %s; allowed: currency, per_gpu_hour." % ", ".join(unknown))
    currency = prices.get("currency")
    if not isinstance(currency, str) or not currency.strip():
        raise Refused("prices.currency must be a currency code such as EUR or CHF, got %r." % (currency,))
    per_gpu_hour = prices.get("per_gpu_hour")
    if not isinstance(per_gpu_hour, dict) or not per_gpu_hour:
        raise Refused("prices.per_gpu_hour must map GPU families to the price of one GPU-hour, for example"
                      " {gpua5000: 1.5}, got %r." % (per_gpu_hour,))
    for family, price in per_gpu_hour.items():
        if isinstance(price, bool) or not isinstance(price, (int, float)) or price < 0:
            raise Refused("prices.per_gpu_hour.%s must be a number of %s per GPU-hour, 0 or more, got %r."
                          % (family, currency, price))
    return prices


def _value(deployment, option):
    value = deployment.get(option)
    return deployment.get(option.replace("_", "-")) if value is None else value


def deployment_cost(deployment, prices):
    """Cost per hour of one deployment (API keys ``gpu-type`` or option names ``gpu_type`` alike)."""
    family = _value(deployment, "gpu_type")
    per_gpu_hour = prices["per_gpu_hour"]
    if family not in per_gpu_hour:
        raise Refused("prices.per_gpu_hour has no price for %s (deployment %r); it has: %s."
                      % (family, deployment.get("name"), ", ".join(sorted(per_gpu_hour))))
    replicas = _value(deployment, "replicas")
    return (1 if replicas is None else replicas) * (_value(deployment, "gpu_count") or 0) * per_gpu_hour[family]


def cost_per_hour(deployments, prices):
    """Total cost per hour of ``deployments``, rounded to cents."""
    return round(sum(deployment_cost(d, prices) for d in deployments), 2)
