"""``GET /docs``: a self-contained HTML page rendered from the OpenAPI document.

No scripts, fonts or styles from elsewhere (the machine may be offline): the page is built on
the server from the same document ``/api/v1/openapi.json`` serves.
"""

from __future__ import annotations

import json
import re
from html import escape
from typing import Any

from aiohttp import web

from gateway.openapi import document_for
from gateway.spec import operation

METHOD_ORDER = ("get", "post", "put", "patch", "delete")
STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#10352c;color:#fff;padding:18px 32px}header h1{margin:0;font-size:22px}
main{max-width:1080px;margin:0 auto;padding:8px 32px 48px}nav a{margin-right:12px}
section.op{background:#fff;border:1px solid #dde1e7;border-radius:6px;margin:14px 0;
padding:12px 16px}
.m{display:inline-block;min-width:58px;text-align:center;font-weight:700;color:#fff;
border-radius:4px;padding:2px 6px;margin-right:8px;font-size:13px}
.get{background:#2f6fdb}.post{background:#168a4a}.put,.patch{background:#b36b00}.delete{background:#c0392b}
code,pre{font-family:ui-monospace,monospace;font-size:13px}pre{background:#f0f2f5;padding:8px;
overflow:auto;border-radius:4px}table{border-collapse:collapse;width:100%;margin:6px 0}
th,td{border-bottom:1px solid #e6e8ec;text-align:left;padding:4px 8px;vertical-align:top}
.scope{color:#6b4b00;background:#fff4d6;border-radius:4px;padding:1px 6px;font-size:12px}
h2{margin-top:30px;border-bottom:2px solid #10352c}details summary{cursor:pointer}
"""


def render(doc: dict[str, Any]) -> str:
    """The whole page for an OpenAPI document."""
    info = doc.get("info", {})
    tags = [tag["name"] for tag in doc.get("tags", [])]
    body = [f"<header><h1>{escape(info.get('title', 'API'))} "
            f"<small>{escape(str(info.get('version', '')))}</small></h1>"
            f"<p>{escape(info.get('description', ''))}</p></header><main>",
            "<nav>" + "".join(f'<a href="#tag-{_slug(t)}">{escape(t)}</a>' for t in tags)
            + '<a href="#schemas">schemas</a>'
            + '<a href="/api/v1/openapi.json">openapi.json</a></nav>']
    for tag in tags:
        body.append(f'<h2 id="tag-{_slug(tag)}">{escape(tag)}</h2>')
        body.extend(_operation(path, method, op) for path, method, op in _ops(doc, tag))
    body.append('<h2 id="schemas">Schemas</h2>')
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        body.append(_schema_section(name, schema))
    body.append("</main>")
    title = escape(info.get("title", "API"))
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title>"
            f"<meta name=viewport content='width=device-width'><style>{STYLE}</style></head>"
            f"<body>{''.join(body)}</body></html>")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _ops(doc: dict[str, Any], tag: str) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, methods in doc.get("paths", {}).items():
        for method in sorted(methods, key=lambda m: METHOD_ORDER.index(m)
                             if m in METHOD_ORDER else 99):
            if tag in methods[method].get("tags", []):
                found.append((path, method, methods[method]))
    return found


def _operation(path: str, method: str, op: dict[str, Any]) -> str:
    parts = [f'<section class=op id="{escape(op.get("operationId", ""))}">'
             f'<div><span class="m {method}">{method.upper()}</span><code>{escape(path)}</code>'
             f' — {escape(op.get("summary", ""))}']
    if scope := op.get("x-required-scope"):
        parts.append(f' <span class=scope>{escape(scope)}</span>')
    parts.append("</div>")
    if description := op.get("description"):
        parts.append(f"<p>{escape(description)}</p>")
    if params := op.get("parameters"):
        rows = "".join(
            f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
            f"<td>{'yes' if p.get('required') else ''}</td><td>{_type(p.get('schema', {}))}</td>"
            f"<td>{escape(p.get('description', ''))}</td></tr>" for p in params)
        parts.append("<table><tr><th>parameter</th><th>in</th><th>required</th><th>type</th>"
                     f"<th>description</th></tr>{rows}</table>")
    if body := op.get("requestBody"):
        for media, content in body.get("content", {}).items():
            parts.append(f"<p><b>Request body</b> <code>{escape(media)}</code>: "
                         f"{_type(content.get('schema', {}))}</p>")
    rows = "".join(
        f"<tr><td>{escape(status)}</td><td>{escape(resp.get('description', ''))}</td>"
        f"<td>{_response_type(resp)}</td></tr>"
        for status, resp in op.get("responses", {}).items())
    parts.append(f"<table><tr><th>status</th><th>meaning</th><th>body</th></tr>{rows}</table>")
    parts.append("</section>")
    return "".join(parts)


def _response_type(response: dict[str, Any]) -> str:
    for media, content in response.get("content", {}).items():
        schema = content.get("schema", {})
        data = schema.get("properties", {}).get("data")
        shown = _type(data) if data else _type(schema)
        return f"<code>{escape(media)}</code> {shown}"
    return ""


def _type(schema: dict[str, Any]) -> str:
    """A short, linked description of a schema."""
    if not schema:
        return "any"
    if ref := schema.get("$ref"):
        name = ref.rsplit("/", 1)[-1]
        return f'<a href="#schema-{escape(name)}">{escape(name)}</a>'
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return " | ".join(_type(s) for s in schema[key])
    if "enum" in schema:
        return " | ".join(f"<code>{escape(json.dumps(v))}</code>" for v in schema["enum"])
    if "const" in schema:
        return f"<code>{escape(json.dumps(schema['const']))}</code>"
    kind = schema.get("type", "object")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if isinstance(kind, list):
        return " | ".join(escape(str(k)) for k in kind)
    if kind == "object" and "properties" in schema:
        return _properties(schema)
    fmt = f" ({escape(schema['format'])})" if "format" in schema else ""
    return escape(str(kind)) + fmt


def _properties(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    rows = "".join(
        f"<tr><td><code>{escape(name)}</code>{' *' if name in required else ''}</td>"
        f"<td>{_type(prop)}</td><td>{escape(prop.get('description', ''))}</td></tr>"
        for name, prop in schema.get("properties", {}).items())
    return f"<table><tr><th>field</th><th>type</th><th>description</th></tr>{rows}</table>"


def _schema_section(name: str, schema: dict[str, Any]) -> str:
    description = escape(schema.get("description", ""))
    shown = _type(schema) if "properties" in schema or "enum" in schema else ""
    return (f'<section class=op id="schema-{escape(name)}"><b>{escape(name)}</b>'
            f"<p>{description}</p>{shown}"
            f"<details><summary>JSON Schema</summary><pre>{escape(json.dumps(schema, indent=2))}"
            "</pre></details></section>")


@operation(summary="Browsable API documentation (HTML)", tag="Documents", errors=(),
           produces="text/html")
async def docs_page(request: web.Request) -> web.Response:
    """This page: every operation, parameter and schema of the OpenAPI document."""
    return web.Response(text=render(document_for(request)), content_type="text/html")
