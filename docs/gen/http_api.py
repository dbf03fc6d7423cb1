"""The HTTP API reference, from the OpenAPI schema drf-spectacular generates in-process (the
same schema /api/schema/ serves): endpoints, methods, parameters, request bodies, responses."""

from __future__ import annotations

from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")


def openapi_schema() -> dict[str, Any]:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def render() -> str:
    schema = openapi_schema()
    info = schema["info"]
    out = [
        "# HTTP API\n",
        f"**{info['title']}** (version {info['version']}): {info.get('description', '')}\n",
        "Generated from the OpenAPI schema that drf-spectacular builds from the views; a running "
        "server serves the same schema at `/api/schema/` and Swagger UI at `/api/docs/` (staff "
        "only). Requests and answers are JSON; scripts authenticate with "
        "`Authorization: Bearer <token>` (tokens from `manage.py sync_api_token create`).\n",
        "| Method | Path | Summary |\n|---|---|---|",
    ]
    operations = [
        (path, method, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]
    out += [f"| {m.upper()} | [`{p}`](#{_anchor(m, p)}) | {_cell(_summary(op))} |" for p, m, op in operations]
    out.append("")
    for path, method, op in operations:
        out.append(_operation(schema, path, method, op))
    out.append("## Schemas\n\nThe JSON objects named above, field by field.\n")
    for name, component in schema.get("components", {}).get("schemas", {}).items():
        out.append(f"### `{name}` {{#schema-{name.lower()}}}\n")
        if component.get("description"):
            out.append(_text(component["description"]) + "\n")
        out += _fields(schema, component) or [f"{_type(schema, component)}\n"]
    return "\n".join(out)


def _operation(schema: dict[str, Any], path: str, method: str, op: dict[str, Any]) -> str:
    lines = [f"## {method.upper()} `{path}` {{#{_anchor(method, path)}}}\n"]
    if op.get("description") or op.get("summary"):
        lines.append(_text(op.get("description") or op.get("summary")) + "\n")
    if params := op.get("parameters"):
        lines += ["| Parameter | In | Type | Required | Meaning |", "|---|---|---|---|---|"]
        lines += [
            f"| `{p['name']}` | {p['in']} | {_type(schema, p.get('schema', {}))} | "
            f"{'yes' if p.get('required') else 'no'} | {_cell(p.get('description', ''))} |"
            for p in params
        ]
        lines.append("")
    if body := op.get("requestBody"):
        content = body.get("content", {}).get("application/json", {})
        lines.append(f"**Request body** (JSON): {_type(schema, content.get('schema', {}))}\n")
        lines += _fields(schema, content.get("schema", {}))
    lines += ["| Status | Answer |", "|---|---|"]
    for status, answer in op.get("responses", {}).items():
        content = answer.get("content", {}).get("application/json", {})
        shown = _type(schema, content["schema"]) if "schema" in content else ""
        lines.append(f"| {status} | {_cell(answer.get('description', ''))} {shown} |")
    lines.append("")
    return "\n".join(lines)


def _summary(op: dict[str, Any]) -> str:
    text = _text(op.get("summary") or op.get("description") or "")
    return text.split(". ")[0].rstrip(".") + "." if text else ""


def _fields(schema: dict[str, Any], ref: dict[str, Any]) -> list[str]:
    """A request body's fields, one row each."""
    body = _resolve(schema, ref)
    props = body.get("properties", {})
    if not props:
        return []
    required = set(body.get("required", []))
    rows = ["| Field | Type | Required | Meaning |", "|---|---|---|---|"]
    rows += [
        f"| `{name}` | {_type(schema, prop)} | {'yes' if name in required else 'no'} | "
        f"{_cell(_resolve(schema, prop).get('description', '') or prop.get('description', ''))} |"
        for name, prop in props.items()
    ]
    return [*rows, ""]


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    if "allOf" in node and len(node["allOf"]) == 1:
        return _resolve(schema, node["allOf"][0])
    return node


def _type(schema: dict[str, Any], node: dict[str, Any]) -> str:
    if node.get("nullable"):
        return _type(schema, {k: v for k, v in node.items() if k != "nullable"}) + " or null"
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return f"[`{name}`](#schema-{name.lower()})"
    if "allOf" in node and len(node["allOf"]) == 1:
        return _type(schema, node["allOf"][0])
    if node.get("type") == "array":
        return f"list of {_type(schema, node.get('items', {}))}"
    if "enum" in node:
        return "one of " + ", ".join(f"`{v}`" for v in node["enum"] if v is not None)
    kind = node.get("type", "any")
    return f"{kind} ({node['format']})" if "format" in node else str(kind)


def _anchor(method: str, path: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in path).strip("-")
    return f"{method}-{slug}"


def _cell(text: str) -> str:
    return _text(text).replace("|", "\\|")


def _text(text: str) -> str:
    return " ".join(str(text).split())
