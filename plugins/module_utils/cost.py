# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What deployments cost per hour, from prices the user gives (the collection ships no price figures).

``prices`` is ``{"currency": "EUR", "per_gpu_hour": {<gpu family>: <price of one GPU for one hour>}}``.
A deployment costs replicas x gpu_count x per_gpu_hour[family] per hour (its unit: ``currency`` per hour);
a deployment scaled to zero costs nothing.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused

NUMBER_TYPES = (int, float)


def validate_prices(prices):
    """Refuse ``prices`` that are not ``{currency: <text>, per_gpu_hour: {<family>: <number >= 0>}}``."""
    shape = "prices must be {currency: EUR, per_gpu_hour: {<gpu family>: <price per GPU and hour>}}"
    if not isinstance(prices, dict):
        raise Refused("%s, got %r." % (shape, prices))
    unknown = sorted(set(prices) - {"currency", "per_gpu_hour"})
    if unknown:
        raise Refused("%s; unknown key(s): %s." % (shape, ", ".join(unknown)))
    currency, per_gpu_hour = prices.get("currency"), prices.get("per_gpu_hour")
    if not isinstance(currency, str) or not currency.strip():
        raise Refused("%s; prices.currency must be a currency code such as EUR, got %r." % (shape, currency))
    if not isinstance(per_gpu_hour, dict) or not per_gpu_hour:
        raise Refused("%s; prices.per_gpu_hour must map GPU families to prices, got %r." % (shape, per_gpu_hour))
    for family, price in sorted(per_gpu_hour.items()):
        if isinstance(price, bool) or not isinstance(price, NUMBER_TYPES) or price < 0:
            raise Refused("prices.per_gpu_hour.%s must be a number of %s per GPU and hour, 0 or more, got %r."
                          % (family, currency, price))


def _get(deployment, key):
    return deployment.get(key, deployment.get(key.replace("-", "_")))


def deployment_cost(deployment, prices):
    """Cost per hour of one deployment (API or snake_case keys), in ``prices['currency']``; None when its
    family has no price. An absent deployment (None) costs 0."""
    if not deployment:
        return 0.0
    family = _get(deployment, "gpu-type")
    price = prices["per_gpu_hour"].get(family)
    if price is None:
        return None
    return round((_get(deployment, "replicas") or 0) * (_get(deployment, "gpu-count") or 0) * float(price), 6)


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
