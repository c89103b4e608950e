"""WhatsApp accounts: register (the token is checked against the Cloud API), list, get, update.

Registration while the Cloud API cannot be reached still stores the account, as
``Disconnected`` with the reason in ``lastError``; a later PATCH with the token checks it again.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from pydantic import Field, model_validator
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from gateway import keys, present
from gateway.auth import principal_of
from gateway.errors import conflict, not_found, ok
from gateway.parsing import Body, parse_body, parse_query
from gateway.present import PageQuery
from gateway.schemas import AccountList, AccountOut
from gateway.spec import operation
from shared.cloudapi import CloudApiError, ErrorClass
from shared.models import AccountStatus, utcnow

TAG = "WhatsApp accounts"
PHONE_NUMBER_ID = r"^[A-Za-z0-9_-]{1,64}$"
DISPLAY_NUMBER = r"^\+?[0-9][0-9 ()-]{5,24}$"
WABA_ID = r"^[A-Za-z0-9_-]{1,64}$"
WABA_HELP = "The WhatsApp Business Account id (Meta's WABA id), needed for templates."
WINDOW_HELP = ("Refuse non-template sends to a contact whose 24-hour customer service window "
               "is closed (OUTSIDE_CUSTOMER_WINDOW).")


class CreateAccountBody(Body):
    """A WhatsApp Business phone number and the token that sends from it."""

    name: str = Field(min_length=1, max_length=200, description="A name for people.")
    phone_number_id: str = Field(pattern=PHONE_NUMBER_ID, description="Meta's phone number id.")
    display_phone_number: str = Field(pattern=DISPLAY_NUMBER, description="e.g. +15551234567.")
    access_token: str = Field(min_length=1, max_length=4096, description="Write-only.")
    daily_limit: int = Field(1000, ge=0, le=10_000_000, description="Sends per UTC day.")
    rate_per_minute: int = Field(20, ge=1, le=100_000, description="Sends per minute.")
    waba_id: str | None = Field(None, pattern=WABA_ID, description=WABA_HELP)
    enforce_customer_window: bool = Field(True, description=WINDOW_HELP)


class UpdateAccountBody(Body):
    """Fields that may change; a new access token is checked again."""

    name: str | None = Field(None, min_length=1, max_length=200)
    access_token: str | None = Field(None, min_length=1, max_length=4096)
    daily_limit: int | None = Field(None, ge=0, le=10_000_000)
    rate_per_minute: int | None = Field(None, ge=1, le=100_000)
    waba_id: str | None = Field(None, pattern=WABA_ID, description=WABA_HELP)
    enforce_customer_window: bool | None = Field(None, description=WINDOW_HELP)

    @model_validator(mode="after")
    def _something(self) -> UpdateAccountBody:
        if not self.model_fields_set:
            raise ValueError("give at least one of name, accessToken, dailyLimit, ratePerMinute, "
                             "wabaId, enforceCustomerWindow")
        return self


async def _check_token(app: web.Application, phone_number_id: str, token: str) -> dict[str, Any]:
    """``status`` and ``lastError`` from asking the Cloud API about the number."""
    try:
        await app[keys.CLOUD].phone_number(phone_number_id, token)
    except CloudApiError as exc:
        if exc.kind == ErrorClass.AUTH or exc.http_status in (401, 403):
            reason = f"Access token refused: {exc.readable()}"
        elif exc.http_status is None or exc.http_status >= 500:
            reason = f"Could not verify the token (Cloud API unavailable): {exc.readable()}"
        else:
            reason = f"Cloud API refused the phone number: {exc.readable()}"
        return {"status": AccountStatus.DISCONNECTED.value, "lastError": reason}
    return {"status": AccountStatus.CONNECTED.value, "lastError": None}


@operation(summary="Register a WhatsApp account", tag=TAG, scope="accounts:write",
           body=CreateAccountBody, response=AccountOut, status=201, errors=(400, 401, 403, 409))
async def create_account(request: web.Request) -> web.Response:
    body = await parse_body(request, CreateAccountBody)
    db = request.app[keys.DB]
    if await db.accounts.find_one({"phoneNumberId": body.phone_number_id}, projection={"_id": 1}):
        raise conflict("An account with this phoneNumberId is already registered")
    now = utcnow()
    doc = {
        "_id": str(uuid.uuid4()), "userId": principal_of(request).user_id, "name": body.name,
        "phoneNumberId": body.phone_number_id, "displayPhoneNumber": body.display_phone_number,
        "accessToken": request.app[keys.CIPHER].encrypt(body.access_token),
        "dailyLimit": body.daily_limit, "ratePerMinute": body.rate_per_minute,
        "wabaId": body.waba_id, "enforceCustomerWindow": body.enforce_customer_window,
        **await _check_token(request.app, body.phone_number_id, body.access_token),
        "createdAt": now, "updatedAt": now,
    }
    try:
        await db.accounts.insert_one(doc)
    except DuplicateKeyError:
        raise conflict("An account with this phoneNumberId is already registered") from None
    return ok(present.account(doc), status=201)


@operation(summary="List your WhatsApp accounts", tag=TAG, scope="accounts:read",
           query=PageQuery, response=AccountList, errors=(400, 401, 403))
async def list_accounts(request: web.Request) -> web.Response:
    page = parse_query(request, PageQuery)
    result = await present.page_of(
        request.app[keys.DB].accounts, {"userId": principal_of(request).user_id},
        [("createdAt", -1), ("_id", -1)], page, "accounts", present.account)
    return ok(result)


def _mine(request: web.Request) -> dict[str, Any]:
    return {"_id": request.match_info["id"], "userId": principal_of(request).user_id}


@operation(summary="Get a WhatsApp account", tag=TAG, scope="accounts:read",
           response=AccountOut, errors=(401, 403, 404))
async def get_account(request: web.Request) -> web.Response:
    doc = await request.app[keys.DB].accounts.find_one(_mine(request))
    if doc is None:
        raise not_found("WhatsApp account")
    return ok(present.account(doc))


@operation(summary="Update a WhatsApp account", tag=TAG, scope="accounts:write",
           body=UpdateAccountBody, response=AccountOut, errors=(400, 401, 403, 404))
async def update_account(request: web.Request) -> web.Response:
    body = await parse_body(request, UpdateAccountBody)
    db = request.app[keys.DB]
    current = await db.accounts.find_one(_mine(request), projection={"phoneNumberId": 1})
    if current is None:
        raise not_found("WhatsApp account")
    changes: dict[str, Any] = {"updatedAt": utcnow()}
    for name, field in (("name", "name"), ("daily_limit", "dailyLimit"),
                        ("rate_per_minute", "ratePerMinute"), ("waba_id", "wabaId"),
                        ("enforce_customer_window", "enforceCustomerWindow")):
        if getattr(body, name) is not None:
            changes[field] = getattr(body, name)
    if body.access_token is not None:
        changes["accessToken"] = request.app[keys.CIPHER].encrypt(body.access_token)
        changes.update(await _check_token(request.app, current["phoneNumberId"],
                                          body.access_token))
    doc = await db.accounts.find_one_and_update(
        _mine(request), {"$set": changes}, return_document=ReturnDocument.AFTER)
    if doc is None:
        raise not_found("WhatsApp account")
    request.app[keys.ACCEPTOR].accounts.forget(doc["_id"])
    return ok(present.account(doc))
