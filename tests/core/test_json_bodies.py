"""Every JSON entry point of the API reads bodies with autonomax.json_input: 400 with the reason, never a 500."""

import pytest

from autonomax.json_input import MAX_DEPTH, JSONInputError, json_object_loads
from chimera.ai.models import AICall
from kpis.models import MetricSnapshot

pytestmark = pytest.mark.django_db

DEEP_7KB = '{"metrics": ' + "[" * 1000 + "]" * 1000 + ', "pad": "' + "x" * 5000 + '"}'
ENDPOINTS = ["/api/v1/ai/generate", "/api/v1/metrics/", "/api/v1/products/publish", "/api/v1/products/draft",
             "/api/v1/companies/acme/halt/"]
BODIES = {
    "too_deep": DEEP_7KB,
    "not_an_object": "[1,2,3]",
    "non_finite_number": '{"task_type": "quick_response", "prompt": "hi", "temperature": NaN}',
    "nul_character": '{"task_type": "quick_response", "prompt": "a\\u0000b"}',
    "lone_surrogate": '{"task_type": "quick_response", "prompt": "\\udc00"}',
    "syntax": '{"prompt": ',
    "not_utf8": b'{"prompt": "\xff"}',
}


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("reason", BODIES)
def test_bad_json_is_a_400_naming_the_reason(owner_api, path, reason):
    # given
    _, api = owner_api

    # when
    response = api.generic("POST", path, BODIES[reason], content_type="application/json")

    # then
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "parse_error"  # DRF's code for an unreadable body, as before
    assert error["details"] == {"reason": reason}
    assert not AICall.objects.exists() and not MetricSnapshot.objects.exists()


def test_depth_limit_is_exact():
    at_limit = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    assert json_object_loads('{"a": ' + at_limit + "}")
    with pytest.raises(JSONInputError) as excinfo:
        json_object_loads('{"a": [' + at_limit + "]}")
    assert excinfo.value.details == {"reason": "too_deep"}


@pytest.mark.parametrize("body, reason", [
    ('{"a": Infinity}', "non_finite_number"), ('{"a": -Infinity}', "non_finite_number"),
    ('{"a": 1e999}', "non_finite_number"), ('{"a\\u0000": 1}', "nul_character"), ('"text"', "not_an_object"),
    ("null", "not_an_object"), ('{"a": ' + "1" * 5000 + "}", "syntax"),
])
def test_other_unacceptable_values(body, reason):
    with pytest.raises(JSONInputError) as excinfo:
        json_object_loads(body)
    assert excinfo.value.details == {"reason": reason}
    assert excinfo.value.status == 400


def test_ordinary_json_is_read_as_before():
    assert json_object_loads(b'\xef\xbb\xbf{"a": [1, 2.5, "\\u00e9", {"b": null}], "c": true}') == {
        "a": [1, 2.5, "é", {"b": None}], "c": True}
