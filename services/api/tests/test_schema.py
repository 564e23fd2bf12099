"""Property-based tests of the live API against its own OpenAPI document
(schemathesis, every check: no server errors, status codes, content types,
headers and bodies as documented, valid data accepted, invalid data refused,
405 with a true Allow header for undocumented methods).

The document is built in-process at import, for schemathesis to generate the
test cases from (its lazy fixture loader does not work with pytest 9.2), and
must equal what the live API serves at /api/openapi.json; every case is sent
to the live API process."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from conveyor_api.app import create_app
from conveyor_api.settings import ApiSettings
from tests.support.processes import Service

CASES: Counter[str] = Counter()


@pytest.fixture(scope="module")
def live_api(service_env: dict[str, str], migrated: None) -> Iterator[Service]:
    # The tasks the images have, none of the test-only ones.
    api = Service("conveyor_api", {**service_env, "TASK_MODULES": "", "ACCESS_LOG": "false"}, "API_PORT")
    api.start()
    yield api
    api.stop()
    documented = {op: n for op, n in CASES.items() if n > 1}
    others = len(CASES) - len(documented)
    print(f"\nschemathesis: {sum(CASES.values())} cases: {documented}, {others} undocumented methods")


DOCUMENT = create_app(ApiSettings(postgres_password="unused")).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture(scope="module")
def base_url(live_api: Service) -> str:
    assert httpx.get(f"{live_api.url}/api/openapi.json").json() == DOCUMENT
    return live_api.url


@schema.parametrize()
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_documented_contract(case: schemathesis.Case, base_url: str) -> None:
    CASES[f"{case.method} {case.path}"] += 1
    case.call_and_validate(base_url=base_url)
