"""schemathesis over the app's own OpenAPI schema, against the real server: no 5xx, no hang.

Kept small (a few examples per operation) so it stays within seconds; `/events` is left out as it
streams until the client leaves. (schemathesis' pytest plugin does not run under pytest 9, so each
operation's strategy is driven by hypothesis here.)
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from support.api_server import running_api

from api.conftest import make_engines


def test_no_server_errors_and_no_hangs(tiny_cfg, tiny_asr):
    with running_api(tiny_cfg, make_engines(tiny_cfg, tiny_asr)) as api:
        schema = schemathesis.openapi.from_url(api.url + "/openapi.json")
        operations = [r.ok() for r in schema.get_all_operations()]
        assert {"/v1/audio/transcriptions", "/v1/audio/speech", "/api/hotwords"} <= {op.path for op in operations}
        for operation in operations:
            if operation.path == "/events":
                continue

            @given(case=operation.as_strategy())
            @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                      database=None)
            def fuzz(case):
                case.call_and_validate(checks=[not_a_server_error], timeout=30)

            fuzz()
