"""Schemathesis against the simulator with the simulator's spec copy (issue 12 item 6), signed like the official tools.

Runs in its own `make conformance` step (mk/conformance.mk sets SIM_CONFORMANCE=1); `pytest tests/simulator` skips it so
the simulator step does not run it twice. Bounded: CONFORMANCE_EXAMPLES examples per operation and mode, fixed seed,
no example database, so a run is repeatable.
"""
import os

import pytest

if not os.environ.get("SIM_CONFORMANCE"):
    pytest.skip("runs in its own step: make conformance (SIM_CONFORMANCE=1)", allow_module_level=True)

# pylint: disable=wrong-import-position
import requests
import schemathesis
from exoscale_auth import ExoscaleV2Auth
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

from tests.simulator.tests.conftest import FAST
from exoscale_ai_simulator.server import start_in_thread
from exoscale_ai_simulator.validation import SPEC_PATH

SEED = 20261201
EXAMPLES = int(os.environ.get("CONFORMANCE_EXAMPLES", "25"))
STATEFUL_SCENARIOS = int(os.environ.get("CONFORMANCE_SCENARIOS", "30"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, negative_data_rejection]

# Statuses the simulator answers where the spec declares none for that operation. Each is a gap of the spec (the API
# has to refuse such input somehow) and is excluded from status_code_conformance for that operation and status only;
# every other check still runs on those answers.
SPEC_GAPS = {
    ("GET", "/ai/help/inference-engine-parameters"): {400: "an unknown `version`: the spec declares 200 only"},
    ("POST", "/ai/model"): {400: "an invalid body (e.g. no `name`): the spec declares 200 and 403 only"},
    ("POST", "/ai/deployment/{id}/scale"): {400: "an invalid body (e.g. no `replicas`): no 400 declared"},
    ("GET", "/ai/deployment/{id}/api-key"): {403: "an Exoscale-managed (public) deployment: no key to reveal, 200/404 only"},
    ("GET", "/operation/{id}"): {404: "an unknown operation id: the spec declares 200 only"},
    ("GET", "/quota/{entity}"): {404: "an unknown resource: the upstream core spec declares 200 only"},
}

CONFIG = SchemathesisConfig.from_dict({
    "seed": SEED,
    # Unknown query parameters are ignored by the API (and by the simulator), so they are not negative data.
    "generation": {"mode": "all", "max-examples": EXAMPLES, "database": "none", "deterministic": True, "allow-extra-parameters": False},
    "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True}},
})


@pytest.fixture(scope="module")
def simulator():
    handle = start_in_thread(speed=FAST)
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def signed_session(simulator):  # pylint: disable=redefined-outer-name
    session = requests.Session()
    session.trust_env = False
    session.auth = ExoscaleV2Auth(simulator.key, simulator.secret)
    yield session
    session.close()


schema = schemathesis.openapi.from_path(SPEC_PATH, config=CONFIG)


def _checks_for(case, response):
    gap = response.status_code in SPEC_GAPS.get((case.method.upper(), case.path), {})
    return [check for check in CHECKS if not (gap and check is status_code_conformance)]


@schema.parametrize()
def test_operation_conforms(case, simulator, signed_session):  # pylint: disable=redefined-outer-name
    response = case.call(base_url=simulator.url, session=signed_session)
    case.validate_response(response, checks=_checks_for(case, response))


def test_stateful_sequences_conform(simulator, signed_session):  # pylint: disable=redefined-outer-name
    """Sequences along the links schemathesis infers between operations (an id one answer returns is used by the next)."""

    class Workflow(schema.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"base_url": simulator.url, "session": signed_session}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=_checks_for(case, response))

    run_state_machine_as_test(Workflow, settings=settings(max_examples=STATEFUL_SCENARIOS, stateful_step_count=6, derandomize=True,
                                                          database=None, deadline=None, suppress_health_check=list(HealthCheck)))
