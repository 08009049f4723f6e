"""The OpenAPI document against what the portal really serves: every route under ``api/``, the
methods each answers, every analysis, format and enum. Any drift fails here."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.admindocs.views import extract_views_from_urlpatterns
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.urls import get_resolver, path, re_path

from apps.core.analyses import ANALYSES, params_schema
from apps.core.io import FORMATS
from apps.datasets.models import Dataset
from apps.jobs.models import Job
from apps.portal.openapi import openapi_schema
from apps.results.exports import CONTENT_TYPES, PREVIEW_FORMATS

pytestmark = pytest.mark.django_db

PROBED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
#: A value of each converter's parameter for probing a route (any row id will do: a method
#: check comes before the lookup).
SAMPLES = {
    "id": "1",
    "analysis_index": "0",
    "name": "sum",
    "export_format": "npy",
    "preview_format": "png",
}
_PARAMETER = re.compile(r"<(?:([^>:]+):)?([^>]+)>")


def _served_api_routes() -> list[str]:
    """Django's own walk over the URLconf (admindocs): the routes under api/, as written."""
    walked = extract_views_from_urlpatterns(get_resolver().url_patterns)
    return [route for _, route, _, _ in walked if route.startswith("api/")]


def _template(route: str) -> str:
    return "/" + _PARAMETER.sub(lambda m: "{" + m.group(2) + "}", route)


def _sample_url(route: str) -> str:
    return "/" + _PARAMETER.sub(lambda m: SAMPLES[m.group(1)], route)


@pytest.fixture
def document(client: Any) -> dict[str, Any]:
    response = client.get("/api/schema/")
    assert response.status_code == 200
    return response.json()


def test_it_lists_every_api_route_and_nothing_else(document):
    served = {_template(route) for route in _served_api_routes()}
    assert served == set(document["paths"])
    assert "/api/jobs/{job_id}/rerun/" in served
    assert "/api/datasets/{pk}/frame/" in served


def test_it_lists_exactly_the_methods_each_route_answers(client, document):
    """A method the view refuses answers 405; every other one must be documented."""
    for route in _served_api_routes():
        url, documented = _sample_url(route), set(document["paths"][_template(route)])
        for method in PROBED_METHODS:
            status = client.generic(method, url).status_code
            answered = status != 405
            assert answered == (method.lower() in documented), (method, url, status)


def test_it_describes_each_path_parameter_by_its_converter(document):
    for route in _served_api_routes():
        for op in document["paths"][_template(route)].values():
            params = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "path"}
            assert set(params) == {m.group(2) for m in _PARAMETER.finditer(route)}, route
            for p in params.values():
                assert p["required"] is True
    results = document["paths"]["/api/jobs/{job_id}/results/{name}.{fmt}"]["get"]
    schemas = {p["name"]: p["schema"] for p in results["parameters"]}
    assert schemas["job_id"] == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
    assert schemas["fmt"]["enum"] == list(CONTENT_TYPES)
    partial = document["paths"]["/api/jobs/{job_id}/partial/{name}.{fmt}"]["get"]
    assert {p["name"]: p["schema"] for p in partial["parameters"]}["fmt"]["enum"] == list(
        PREVIEW_FORMATS
    )


def test_every_analysis_is_a_job_submission_with_its_parameters(document):
    variants = document["components"]["schemas"]["JobSubmit"]["oneOf"]
    by_name = {v["properties"]["analysis"]["const"]: v for v in variants[:-1]}
    assert list(by_name) == list(ANALYSES)
    # and a reproduction from a provenance record (docs/cache.md)
    assert variants[-1]["required"] == ["record"] and variants[-1]["additionalProperties"] is False
    # null is {} (no parameters), which only an analysis requiring none accepts
    takes_null = {
        name
        for name, cls in ANALYSES.items()
        if not cls.declaration.modes and not any(p.required for p in cls.declaration.params)
    }
    assert "sum" in takes_null and "radial" not in takes_null
    for name in ANALYSES:
        params = by_name[name]["properties"]["params"]
        assert params.get("anyOf", [params])[0] == params_schema(name), name
        assert ("anyOf" in params) == (name in takes_null), name
        assert by_name[name]["additionalProperties"] is False  # unknown fields are refused
    radial = by_name["radial"]["properties"]["params"]
    assert {"cx", "cy", "ri", "ro", "bins"} <= set(radial["properties"])


def test_formats_and_states_come_from_their_sources(document):
    schemas = document["components"]["schemas"]
    assert schemas["Dataset"]["properties"]["format"]["enum"] == list(FORMATS)
    register_format = schemas["DatasetRegister"]["properties"]["format"]["anyOf"][0]
    assert register_format["enum"] == list(FORMATS)
    assert {"raw", "hdf5", "npy", "mib", "raw_csr", "hdf5_csr"} <= set(FORMATS)
    assert schemas["Dataset"]["properties"]["status"]["enum"] == list(Dataset.Status.values)
    assert schemas["Job"]["properties"]["status"]["enum"] == list(Job.Status.values)
    assert schemas["Result"]["properties"]["urls"]["propertyNames"]["enum"] == list(CONTENT_TYPES)


def test_every_operation_documents_its_errors_as_the_error_object(document):
    for path_, item in document["paths"].items():
        for method, op in item.items():
            codes = {int(c) for c in op["responses"]}
            public = op.get("security") == []
            assert (401 in codes) != public, (method, path_)
            if "requestBody" in op:
                assert {400, 413} <= codes, (method, path_)
            if "{" in path_:
                assert 404 in codes, (method, path_)
            for code in {c for c in codes if c >= 400}:
                schema = op["responses"][str(code)]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}


def test_it_resolves_every_reference(document):
    refs = set()

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs
    for ref in refs:
        _, section, kind, name = ref.split("/")
        assert name in document[section][kind], ref


def _plain_view(request: Any) -> HttpResponse:
    return HttpResponse("{}")


def _urlconf(*patterns: Any) -> type:
    """A URLconf of ``patterns`` (a class: hashable, as the resolver cache needs)."""
    return type("URLconf", (), {"urlpatterns": list(patterns)})


def test_a_route_without_a_declaration_stops_the_document(settings):
    settings.ROOT_URLCONF = _urlconf(path("api/plain/", _plain_view))
    with pytest.raises(ImproperlyConfigured, match="/api/plain/"):
        openapi_schema()


def test_a_regex_route_under_api_stops_the_document(settings):
    route = re_path(r"^api/plain/(?P<pk>[0-9]+)/$", _plain_view)
    settings.ROOT_URLCONF = _urlconf(route)
    with pytest.raises(ImproperlyConfigured, match="is a regex"):
        openapi_schema()
