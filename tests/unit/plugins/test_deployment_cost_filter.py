"""The deployment_cost filter: cost.py's figure with the currency; bad prices are a filter error naming the field."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.inferops.exoscale.plugins.filter.deployment_cost import deployment_cost

PRICES = {"currency": "EUR", "per_gpu_hour": {"gpua5000": 1.25, "gpurtx6000pro": 2.5}}


def test_cost_is_replicas_times_gpus_times_price():
    assert deployment_cost({"gpu_type": "gpua5000", "gpu_count": 2, "replicas": 3}, PRICES) == \
        {"currency": "EUR", "per_hour": 7.5}
    assert deployment_cost({"gpu-type": "gpurtx6000pro", "gpu-count": 1, "replicas": 1}, PRICES)["per_hour"] == 2.5
    assert deployment_cost({"gpu_type": "gpu3", "gpu_count": 1, "replicas": 1}, PRICES)["per_hour"] is None


def test_bad_prices_are_refused():
    with pytest.raises(AnsibleFilterError, match="prices.per_gpu_hour.gpua5000 must be a number"):
        deployment_cost({"gpu_type": "gpua5000", "gpu_count": 1, "replicas": 1},
                        {"currency": "EUR", "per_gpu_hour": {"gpua5000": -1}})
    with pytest.raises(AnsibleFilterError, match="a deployment"):
        deployment_cost("gpua5000", PRICES)
