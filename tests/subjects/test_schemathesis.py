"""schemathesis over the API's own OpenAPI schema: generated calls, valid
and invalid, to every operation, with real credentials and real
references, and never a server error."""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.subjects.dpo_helpers import crawler_key, dpo_key, make_dpo, make_request

# Bounded so that the whole module runs in well under two minutes.
EXAMPLES = 30


def load_schema():
    """The schema /api/schema/ serves, made without a request (collection
    runs before the test database exists)."""
    raw = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(raw)))
    loaded.app = get_wsgi_application()
    loaded.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
    return loaded


schema = load_schema()


@pytest.fixture
def credentials(db):
    # The calls go straight into the WSGI app, not through Django's test
    # client: keep the test's connection (and its transaction) open across
    # requests, as the test client does.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    cache.clear()
    dora, _ = make_dpo()
    # Requests in the states the actions need, so that generated bodies reach
    # the actions themselves and not only the 404 of an unknown reference.
    references = [make_request(state, received_days_ago=2).reference
                  for state in ("awaiting_review", "info_requested", "error", "identity_review",
                                "in_progress", "completed")]
    yield {"dpo": dpo_key(dora), "crawler": crawler_key(), "references": references}
    cache.clear()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_the_tested_schema_is_the_served_one(client):
    served = client.get("/api/schema/?format=json").json()
    assert set(served["paths"]) == set(schema.raw_schema["paths"])


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_generated_call_gets_a_server_error(case, credentials, settings):
    settings.API_RATES = {"dpo": None, "crawler": None, "status": None}
    path = case.operation.path
    if "{reference}" in path and isinstance(case.path_parameters, dict):
        # Half the calls on a real request, chosen by the generated data itself.
        seed = len(repr(case.body)) + len(repr(case.query))
        if seed % 2:
            pool = credentials["references"]
            case.path_parameters = {**case.path_parameters, "reference": pool[seed % len(pool)]}
    headers = {}
    if path == "/api/v1/suppression/check":
        headers["Authorization"] = f"Bearer {credentials['crawler']}"
    elif path.startswith("/api/v1/") and not path.startswith("/api/v1/status/"):
        headers["Authorization"] = f"Bearer {credentials['dpo']}"
    response = case.call(headers=headers)
    case.validate_response(response, checks=[not_a_server_error])
