"""Contacts: list (optionally by account) and get."""

from __future__ import annotations

import re
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
from shared import search

TAG = "Contacts"


class ListContactsQuery(PageQuery):
    whatsapp_account_id: str | None = Field(None, max_length=100,
                                            description="Only this account's contacts.")
    q: str | None = Field(
        None, min_length=1, max_length=search.MAX_QUERY,
        description="Only contacts whose name contains this text (case ignored) or whose "
                    "phone number contains its digits; taken literally, never a pattern.")

    def mongo(self, user_id: str) -> dict[str, Any]:
        """The filter of these parameters for ``user_id``'s contacts."""
        where: dict[str, Any] = {"userId": user_id}
        if self.whatsapp_account_id is not None:
            where["whatsappAccountId"] = self.whatsapp_account_id
        if self.q is None:
            return where
        either: list[dict[str, Any]] = [
            {"name": {"$regex": re.escape(self.q.strip() or self.q), "$options": "i"}}]
        if digits := search.digits(self.q):
            either.append({"phone": {"$regex": re.escape(digits)}})
        # ``$or`` inside an ``$and`` with the rest: the embedded server does not AND a ``$or``
        # with the fields beside it (docs/DEVIATIONS.md). A scan of the user's contacts there.
        return {"$and": [{k: {"$eq": v}} for k, v in where.items()] + [{"$or": either}]}


@operation(summary="List contacts, newest first", tag=TAG, scope="messages:read",
           query=ListContactsQuery, response=ContactList, errors=(400, 401, 403, 404))
async def list_contacts(request: web.Request) -> web.Response:
    query = parse_query(request, ListContactsQuery)
    user_id = principal_of(request).user_id
    if query.whatsapp_account_id is not None:
        await own_account(request.app[keys.DB], user_id, query.whatsapp_account_id)
    mongo = query.mongo(user_id)
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
