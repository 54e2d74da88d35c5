"""The client reads the API as the service's OpenAPI schema describes it: every route it calls
exists with the method, success status and answer it expects, every field it sends is one the
route takes, and every field of its models is in the schema with a compatible type (an enum's
values the same, null only where the client allows None). A change on either side that breaks
the other fails here, not in a user's program."""

import dataclasses
import types
import typing
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import pytest
from atelier_client import options, routes, schemas
from atelier_client.routes import Route

MODELS = [v for v in vars(schemas).values() if isinstance(v, type) and dataclasses.is_dataclass(v)]
# Option groups and the form (or JSON body) schema they are sent in.
OPTION_GROUPS = [
    (options.StylizationOptions, routes.STYLIZE),
    (options.StylizationOptions, routes.CREATE_CAMPAIGN),
    (options.CampaignFields, routes.CREATE_CAMPAIGN),
    (options.TrainingSettings, routes.CREATE_TRAINING),
    (options.VideoOptions, routes.CREATE_VIDEO),
]


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from app.config import Settings
    from app.main import create_app

    settings = Settings(data_dir=tmp_path_factory.mktemp("openapi"))  # type: ignore[call-arg]
    return create_app(settings).openapi()


# --- reading the schema ---------------------------------------------------------------------------


def _resolve(schema: dict[str, Any], openapi: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    return openapi["components"]["schemas"][ref.rsplit("/", 1)[1]]


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[1] if ref else None


def _variants(prop: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """A property's non-null alternatives, and whether it may be null."""
    options_ = prop.get("anyOf", [prop])
    nullable = any(o.get("type") == "null" for o in options_)
    return [o for o in options_ if o.get("type") != "null"], nullable


def _body_schema(operation: dict[str, Any], media: str, openapi: dict[str, Any]) -> dict[str, Any]:
    content = operation.get("requestBody", {}).get("content", {})
    if media not in content:
        return {}
    variants, _ = _variants(content[media]["schema"])
    return _resolve(variants[0], openapi) if variants else {}


# --- checking one route, one model, one group of options ------------------------------------------


def route_problems(route: Route, openapi: dict[str, Any]) -> list[str]:
    where = f"{route.method} {route.path}"
    operation = openapi["paths"].get(route.path, {}).get(route.method.lower())
    if operation is None:
        return [f"{where}: no such route in the schema"]
    problems = []
    responses = operation.get("responses", {})
    if str(route.status) not in responses:
        problems.append(f"{where}: answers {sorted(responses)}, not {route.status}")
    elif route.answers is not None:
        content = responses[str(route.status)].get("content", {}).get("application/json", {})
        body = content.get("schema", {})
        expected = route.answers.SCHEMA  # type: ignore[attr-defined]
        if route.listed:
            items = _resolve(body, openapi).get("properties", {}).get("data", {}).get("items", {})
            got = _ref_name(items)
        else:
            got = _ref_name(body)
        if got != expected:
            listed = " (in data[])" if route.listed else ""
            problems.append(f"{where}: answers {got}{listed}, the client reads {expected}")
    params = operation.get("parameters", [])
    for place, sent in (("query", route.query), ("header", route.headers)):
        taken = {p["name"].lower() for p in params if p["in"] == place}
        for name in sorted(sent - taken):
            problems.append(f"{where}: takes no {place} parameter {name!r}")
    for media, sent in (("multipart/form-data", route.form), ("application/json", route.json)):
        body = _body_schema(operation, media, openapi)
        if not sent and not body.get("required"):
            continue
        taken = set(body.get("properties", {}))
        for name in sorted(sent - taken):
            problems.append(f"{where}: its {media} body has no field {name!r}")
        for name in sorted(set(body.get("required", [])) - sent):
            problems.append(f"{where}: requires {name!r}, which the client never sends")
    return problems


def _type_problem(hint: Any, prop: dict[str, Any], openapi: dict[str, Any]) -> str | None:
    """Why a value of `hint` cannot be what `prop` describes (None: it can)."""
    if isinstance(hint, TypeVar):
        hint = hint.__bound__
    origin, args = get_origin(hint), get_args(hint)
    variants, nullable = _variants(prop)
    if origin in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _type_problem(inner[0], prop, openapi) if len(inner) == 1 else "a union"
    if not variants:
        return "no type in the schema"
    schema = _resolve(variants[0], openapi)
    kind = schema.get("type")
    if dataclasses.is_dataclass(hint):
        name = _ref_name(variants[0])
        return None if name == hint.SCHEMA else f"{name}, not {hint.SCHEMA}"  # type: ignore[union-attr]
    if origin is Literal:
        if set(schema.get("enum", ())) != set(args):
            return f"enum {sorted(schema.get('enum', ()))}, not {sorted(args)}"
        return None
    if origin is list:
        if kind != "array":
            return f"{kind}, not an array"
        return _type_problem(args[0], schema.get("items", {}), openapi)
    wanted = {
        dict: {"object"},
        str: {"string"},
        int: {"integer"},
        float: {"number", "integer"},
        bool: {"boolean"},
        datetime: {"string"},
    }.get(origin or hint)
    if wanted is None or kind not in wanted:
        return f"{kind}, not {getattr(hint, '__name__', hint)}"
    if hint is datetime and schema.get("format") != "date-time":
        return f"format {schema.get('format')}, not date-time"
    return None


def model_problems(model: type, openapi: dict[str, Any]) -> list[str]:
    name = model.SCHEMA  # type: ignore[attr-defined]
    component = openapi["components"]["schemas"].get(name)
    if component is None:
        return [f"{model.__name__}: no schema {name}"]
    properties, required = component.get("properties", {}), set(component.get("required", []))
    problems = []
    hints = get_type_hints(model)
    for field in dataclasses.fields(model):
        where = f"{model.__name__}.{field.name} ({name})"
        hint = hints[field.name]
        if field.name not in properties:
            problems.append(f"{where}: not in the schema")
            continue
        optional = get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint)
        _, nullable = _variants(properties[field.name])
        if not optional and (nullable or field.name not in required):
            problems.append(f"{where}: the schema may leave it null or out; the client may not")
        problem = _type_problem(hint, properties[field.name], openapi)
        if problem:
            problems.append(f"{where}: {problem}")
    return problems


def option_problems(group: type, route: Route, openapi: dict[str, Any]) -> list[str]:
    """The options' types against the fields of the body they are sent in. A form carries
    text: a list option goes as JSON, which the schema must take as a string."""
    operation = openapi["paths"][route.path][route.method.lower()]
    media = "application/json" if route.json else "multipart/form-data"
    properties = _body_schema(operation, media, openapi).get("properties", {})
    problems = []
    for name, hint in get_type_hints(group).items():
        where = f"{group.__name__}.{name} in {route.method} {route.path}"
        if name not in properties:
            problems.append(f"{where}: not in the schema")
            continue
        if get_origin(hint) in (Sequence, typing.Sequence) and media == "multipart/form-data":
            variants, _ = _variants(properties[name])
            item = variants[0] if variants else {}
            is_file_list = item.get("type") == "array" and item.get("items", {}).get("format")
            if item.get("type") != "string" and not is_file_list:
                problems.append(f"{where}: sent as JSON text, the schema wants {item}")
            continue
        problem = _type_problem(hint, properties[name], openapi)
        if problem:
            problems.append(f"{where}: {problem}")
    return problems


# --- the tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", routes.ALL, ids=lambda r: f"{r.method} {r.path}")
def test_every_route_the_client_calls_is_in_the_schema(route, openapi):
    assert route_problems(route, openapi) == []


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_model_field_agrees_with_the_schema(model, openapi):
    assert model_problems(model, openapi) == []


@pytest.mark.parametrize(
    ("group", "route"), OPTION_GROUPS, ids=lambda v: getattr(v, "__name__", getattr(v, "path", ""))
)
def test_every_option_agrees_with_the_schema(group, route, openapi):
    assert option_problems(group, route, openapi) == []


def test_the_checks_see_a_disagreement(openapi):
    """The checks above can fail: a renamed path, a misspelt field, a field the schema does
    not have, a wrong enum and a nullable field taken for a required one are each reported."""

    @dataclasses.dataclass(frozen=True)
    class DriftedJob:
        SCHEMA: ClassVar[str] = "JobPublic"
        id: str
        state: str  # the schema calls it `status`
        kind: Literal["stylize", "video"]  # the schema's enum: stylize, train
        eta_seconds: float  # null while not running

    class DriftedOptions(typing.TypedDict, total=False):
        strenght: float
        output_format: Literal["png", "gif"]

    drifted = [
        Route("GET", "/v1/job/{job_id}", 200, schemas.JobSnapshot),
        Route("GET", "/v1/jobs/{job_id}", 200, schemas.Style),
        Route("GET", "/v1/jobs", 200, schemas.JobSnapshot, listed=True, query=frozenset({"state"})),
        Route("POST", "/v1/stylizations", 201, schemas.JobSnapshot, form=frozenset({"content"})),
        Route("POST", "/v1/styles", 201, schemas.Style, form=frozenset({"name"})),
        Route("POST", "/v1/videos", 202, schemas.JobSnapshot, form=frozenset({"video", "clip"})),
    ]
    reported = [p for route in drifted for p in route_problems(route, openapi)]
    reported += model_problems(DriftedJob, openapi)
    reported += option_problems(DriftedOptions, routes.STYLIZE, openapi)
    for expected in [
        "GET /v1/job/{job_id}: no such route",
        "answers JobPublic, the client reads StylePublic",
        "takes no query parameter 'state'",
        "answers ['202'",
        "requires 'image'",
        "POST /v1/videos: its multipart/form-data body has no field 'clip'",
        "DriftedJob.state (JobPublic): not in the schema",
        "DriftedJob.kind (JobPublic): enum",
        "DriftedJob.eta_seconds (JobPublic): the schema may leave it null",
        "DriftedOptions.strenght in POST /v1/stylizations: not in the schema",
        "DriftedOptions.output_format in POST /v1/stylizations: enum",
    ]:
        assert any(expected in p for p in reported), (expected, reported)
