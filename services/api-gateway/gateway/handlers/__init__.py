"""The gateway's route registry: every route of the HTTP API, in one list.

Plain paths are registered before parameterised ones, so ``/messages/statistics`` is never taken
for a message id whatever the order below.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway import asyncapi, docs_page, openapi
from gateway.handlers import (
    accounts,
    contacts,
    exports,
    media,
    messages,
    queues,
    statistics,
    templates,
)

View = Callable[[web.Request], Awaitable[web.StreamResponse]]
API = "/api/v1"

ROUTES: list[tuple[str, str, View]] = [
    # gateway-1: messages, accounts, contacts, asyncapi
    ("POST", f"{API}/messages", messages.send_message),
    ("GET", f"{API}/messages", messages.list_messages),
    ("GET", f"{API}/messages/export", exports.export_messages),  # before /messages/{id}
    ("GET", f"{API}/messages/{{id}}", messages.get_message),
    ("PUT", f"{API}/messages/{{id}}/read", messages.mark_read),
    ("POST", f"{API}/messages/{{id}}/retry", messages.retry_message),
    ("DELETE", f"{API}/messages/{{id}}", messages.cancel_message),
    ("POST", f"{API}/whatsapp-accounts", accounts.create_account),
    ("GET", f"{API}/whatsapp-accounts", accounts.list_accounts),
    ("GET", f"{API}/whatsapp-accounts/{{id}}", accounts.get_account),
    ("PATCH", f"{API}/whatsapp-accounts/{{id}}", accounts.update_account),
    ("GET", f"{API}/contacts", contacts.list_contacts),
    ("GET", f"{API}/contacts/{{id}}", contacts.get_contact),
    ("GET", f"{API}/asyncapi.json", asyncapi.asyncapi_json),
    # gateway-2: media, statistics, queues/metrics, openapi, docs
    ("POST", f"{API}/media", media.upload_media),
    ("GET", f"{API}/media/{{id}}", media.get_media),
    ("GET", f"{API}/messages/statistics", statistics.get_statistics),
    ("GET", f"{API}/messages/statistics/daily", statistics.get_daily_statistics),
    ("GET", f"{API}/queues/metrics", queues.get_queue_metrics),
    ("GET", f"{API}/openapi.json", openapi.openapi_json),
    ("GET", "/docs", docs_page.docs_page),
    # templates (issue 15)
    ("GET", f"{API}/whatsapp-accounts/{{id}}/templates", templates.list_templates),
    ("POST", f"{API}/whatsapp-accounts/{{id}}/templates/sync", templates.sync_templates),
    ("POST", f"{API}/whatsapp-accounts/{{id}}/templates", templates.create_template),
]


def setup_routes(app: web.Application) -> None:
    """Add every route of :data:`ROUTES` to ``app``."""
    for method, path, view in sorted(ROUTES, key=lambda route: "{" in route[1]):
        app.router.add_route(method, path, view)
