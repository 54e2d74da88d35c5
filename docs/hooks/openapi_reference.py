"""MkDocs hook: the API reference page, written at build time from the app's own OpenAPI schema.

The schema comes from `create_app(...).openapi()` in this process (no server, no network), so
the reference can never drift from the routes: a route, field or status added to the code is
on the next build's page. The page (`api/reference.md`) and the schema itself
(`api/openapi.json`, for code generators) are added to the site as generated files; neither is
kept in the repository.
"""

import json
import tempfile
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

PAGE = "api/reference.md"
SCHEMA = "api/openapi.json"
METHODS = ("get", "post", "put", "patch", "delete")


def on_files(files: Files, config: MkDocsConfig) -> Files:
    schema = _schema()
    files.append(File.generated(config, SCHEMA, content=json.dumps(schema, indent=2)))
    files.append(File.generated(config, PAGE, content=render(schema)))
    return files


def _schema() -> dict[str, Any]:
    # Imported here: the hook module is loaded by MkDocs before anything else is needed.
    from app.config import Settings
    from app.main import create_app

    with tempfile.TemporaryDirectory() as data_dir:  # nothing of a real deployment is touched
        return create_app(Settings(data_dir=Path(data_dir))).openapi()


def render(schema: dict[str, Any]) -> str:
    """The whole page: the operations grouped by tag, then every schema they name."""
    info = schema["info"]
    lines = [
        "# API reference",
        "",
        f"{info['title']} {info['version']}: {info.get('summary', '')}",
        "",
        "Generated at build time from the OpenAPI schema the service serves at `/openapi.json`",
        "(download it: [openapi.json](openapi.json)); a running service shows the same schema",
        "interactively at `/docs`. Every status a route can answer is listed; the error codes",
        "behind them are in [errors](errors.md).",
        "",
    ]
    for tag, operations in _by_tag(schema).items():
        lines += [f"## {tag.capitalize()}", ""]
        for method, path, operation in operations:
            lines += _operation(method, path, operation)
    lines += ["## Schemas", ""]
    for name, component in schema.get("components", {}).get("schemas", {}).items():
        lines += _component(name, component)
    return "\n".join(lines) + "\n"


def _by_tag(schema: dict[str, Any]) -> dict[str, list[tuple[str, str, dict[str, Any]]]]:
    groups: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                operation = item[method]
                tag = (operation.get("tags") or ["other"])[0]
                groups.setdefault(tag, []).append((method, path, operation))
    return groups


def _operation(method: str, path: str, operation: dict[str, Any]) -> list[str]:
    lines = [f"### `{method.upper()} {path}`", ""]
    text = operation.get("description") or operation.get("summary") or ""
    if text:
        lines += [text.strip(), ""]
    parameters = operation.get("parameters", [])
    if parameters:
        lines += [
            "| parameter | in | type | required | description |",
            "| --- | --- | --- | --- | --- |",
        ]
        for p in parameters:
            lines.append(
                f"| `{p['name']}` | {p['in']} | {_type(p.get('schema', {}))} | "
                f"{'yes' if p.get('required') else 'no'} | {_cell(p.get('description', ''))} |"
            )
        lines.append("")
    body = operation.get("requestBody")
    if body:
        for media, content in body.get("content", {}).items():
            lines += [
                f"Request body, `{media}`{'' if body.get('required') else ' (optional)'}:",
                "",
            ]
            lines += _fields(content.get("schema", {}))
    lines += ["| status | meaning | body |", "| --- | --- | --- |"]
    for status, response in sorted(operation.get("responses", {}).items()):
        media = response.get("content", {})
        shapes = ", ".join(
            f"`{m}`" + (f" {_type(c['schema'])}" if c.get("schema") else "")
            for m, c in media.items()
        )
        lines.append(f"| {status} | {_cell(response.get('description', ''))} | {shapes} |")
    return [*lines, ""]


def _fields(schema: dict[str, Any]) -> list[str]:
    """A table of an inline object's fields, or a link to a named schema."""
    if "$ref" in schema or "properties" not in schema:
        return [_type(schema), ""]
    required = set(schema.get("required", []))
    lines = ["| field | type | required | description |", "| --- | --- | --- | --- |"]
    for name, field in schema["properties"].items():
        lines.append(
            f"| `{name}` | {_type(field)} | {'yes' if name in required else 'no'} | "
            f"{_cell(field.get('description', ''))} |"
        )
    return [*lines, ""]


def _component(name: str, component: dict[str, Any]) -> list[str]:
    lines = [f"### {name} {{#schema-{name.lower()}}}", ""]
    if component.get("description"):
        lines += [component["description"].strip(), ""]
    if "enum" in component:
        return [*lines, "One of: " + ", ".join(f"`{v}`" for v in component["enum"]), ""]
    return lines + _fields(component)


def _type(schema: dict[str, Any]) -> str:
    """A field's type in words, named schemas linked to their section of this page."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#schema-{name.lower()})"
    for combiner in ("anyOf", "oneOf", "allOf"):
        if combiner in schema:
            parts = [_type(s) for s in schema[combiner]]
            return " or ".join(p for p in parts if p != "null") + (
                " or null" if "null" in parts else ""
            )
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    if schema.get("format") == "binary":
        return "file"
    if "const" in schema:
        return f"`{schema['const']}`"
    text = str(kind) + (f" ({schema['format']})" if "format" in schema else "")
    bounds = [
        f"{word} {schema[key]}"
        for key, word in (("minimum", "≥"), ("maximum", "≤"), ("exclusiveMinimum", ">"))
        if key in schema
    ]
    if "default" in schema:
        bounds.append(f"default `{json.dumps(schema['default'])}`")
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _cell(text: str) -> str:
    """Text that fits in one table cell: one line, no column separators."""
    return " ".join(str(text).split()).replace("|", "\\|")
