"""Contacts: list (optionally by account) and get."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field

from gateway import keys, present
from gateway.auth import principal_of
from gateway.errors import not_found, ok
from gateway.parsing import parse_query
from gateway.present import PageQuery
from gateway.schemas import ContactList, ContactOut
from gateway.spec import operation
from gateway.tenancy import own_account

TAG = "Contacts"


class ListContactsQuery(PageQuery):
    whatsapp_account_id: str | None = Field(None, max_length=100,
                                            description="Only this account's contacts.")


@operation(summary="List contacts, newest first", tag=TAG, scope="messages:read",
           query=ListContactsQuery, response=ContactList, errors=(400, 401, 403, 404))
async def list_contacts(request: web.Request) -> web.Response:
    query = parse_query(request, ListContactsQuery)
    mongo: dict[str, Any] = {"userId": principal_of(request).user_id}
    if query.whatsapp_account_id is not None:
        await own_account(request.app[keys.DB], mongo["userId"], query.whatsapp_account_id)
        mongo["whatsappAccountId"] = query.whatsapp_account_id
    page = await present.page_of(request.app[keys.DB].contacts, mongo,
                                 [("createdAt", -1), ("_id", -1)], query, "contacts",
                                 present.contact)
    return ok(page)


@operation(summary="Get a contact", tag=TAG, scope="messages:read", response=ContactOut,
           errors=(401, 403, 404))
async def get_contact(request: web.Request) -> web.Response:
    doc = await request.app[keys.DB].contacts.find_one(
        {"_id": request.match_info["id"], "userId": principal_of(request).user_id})
    if doc is None:
        raise not_found("Contact")
    return ok(present.contact(doc))
