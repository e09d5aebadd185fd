"""Every operation of the OpenAPI schema, with generated input, as a clinician holding a token
for a team with a patient: no answer is a server error (schemathesis's ``not_a_server_error``
check). The patient's real public id replaces generated ones, so requests reach the code
behind the scope check rather than stopping at a 404.

The schema is drf-spectacular's, generated as /api/schema/ generates it; requests go to the WSGI
application in-process, inside the test's transaction.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from rms.models import Patient
from tests.security.conftest import api_authorization

pytestmark = pytest.mark.django_db


@pytest.fixture
def auth(clinician: Any) -> dict[str, str]:
    return api_authorization(clinician)


@pytest.fixture(autouse=True)
def keep_the_tests_connection() -> Any:
    # The WSGI handler closes "old" database connections when a request starts and ends; inside
    # the test's transaction that would close the test's own connection (PostgreSQL; SQLite's
    # in-memory test database ignores it). Django's test client does the same as this.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _openapi() -> dict[str, Any]:
    """The schema /api/schema/ serves, generated the same way (drf-spectacular), as JSON."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(document))  # type: ignore[no-any-return]


# The inbound feed's body is ER7 text: sent as any other text body.
schemathesis.serializer.alias("x-application/hl7-v2+er7", "text/plain")
schema = schemathesis.openapi.from_dict(_openapi())
schema.app = get_wsgi_application()


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_operation_answers_with_a_server_error(
    case: Any, auth: dict[str, str], patient: Patient
) -> None:
    if case.path_parameters and "public_id" in case.path_parameters:
        case.path_parameters["public_id"] = str(patient.public_id)
    case.call_and_validate(headers=auth, checks=[not_a_server_error])
