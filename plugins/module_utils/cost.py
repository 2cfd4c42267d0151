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
    """Refuse ``prices`` that are not ``{currency: str, per_gpu_hour: {family: number >= 0}}``."""
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


def _value(deployment, key):
    return deployment.get(key, deployment.get(key.replace("-", "_")))


def deployment_cost(deployment, prices):
    """Cost per hour of one deployment (API or snake_case keys); None when its family has no price, 0 when absent."""
    if not deployment:
        return 0.0
    price = prices["per_gpu_hour"].get(_value(deployment, "gpu-type"))
    if price is None:
        return None
    return round((_value(deployment, "replicas") or 0) * (_value(deployment, "gpu-count") or 0) * float(price), 6)


def cost_per_hour(deployments, prices):
    """Total cost per hour of ``deployments``; None when one of them has a family without a price."""
    costs = [deployment_cost(d, prices) for d in deployments]
    return None if any(c is None for c in costs) else round(sum(costs), 6)


def plan_cost(plan, prices):
    """``{currency, per_hour}`` of what a plan leaves, plus ``before``/``after`` when the plan changes it."""
    def shape(deployment):
        return dict((key, deployment.get(key)) for key in ("gpu-type", "gpu-count", "replicas")) if deployment else None
    before = shape(plan.current)
    if plan.action == "delete":
        after = None
    elif plan.action in ("create", "replace"):
        wanted = plan.wanted
        after = {"gpu-type": wanted.get("gpu_type"), "gpu-count": wanted.get("gpu_count"), "replicas": wanted.get("replicas")}
    else:
        after = dict(before, replicas=plan.changes["replicas"][1]) if "replicas" in plan.changes else before
    now, then = deployment_cost(before, prices), deployment_cost(after, prices)
    found = dict(currency=prices["currency"], unit="%s per hour" % prices["currency"], per_hour=then)
    if now != then:
        found.update(before=now, after=then)
    return found
