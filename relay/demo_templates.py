"""The demo account's two approved templates (``relay up`` with the built-in simulator): put in
the simulator's registry, then synced into Relay exactly as ``POST .../templates/sync`` does."""

from __future__ import annotations

from typing import Any

import aiohttp

from shared.cloudapi import CloudApi
from shared.db import Database
from shared.secrets import TokenCipher
from shared.settings import Settings
from shared.template_registry import TemplateRegistry
from shared.template_store import MongoTemplateStore
from shared.templates import SyncCounts

DEMO_WABA_ID = "102290129340398"
DEMO_TEMPLATES: list[dict[str, Any]] = [
    {"name": "order_update", "language": "en_US", "category": "UTILITY", "components": [
        {"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped.",
         "example": {"body_text": [["Ada", "#1042"]]}}]},
    {"name": "hello_world", "language": "en_US", "category": "UTILITY", "components": [
        {"type": "HEADER", "format": "TEXT", "text": "Hello World"},
        {"type": "BODY", "text": "Welcome and congratulations!! This message is sent from Relay."},
        {"type": "FOOTER", "text": "WhatsApp Business Platform sample message"}]},
]


async def seed_demo_templates(settings: Settings, db: Database, account_id: str) -> SyncCounts:
    """Approved demo templates in the simulator (it forgets them when it stops), then synced."""
    url = f"http://127.0.0.1:{settings.sim_port}/_sim/templates"
    body = {"wabaId": DEMO_WABA_ID, "templates": DEMO_TEMPLATES}
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        response.raise_for_status()
    cloud = CloudApi(settings.cloud_api_url, settings.whatsapp_api_version)
    await cloud.start()
    try:
        registry = TemplateRegistry(db=db, cloud=cloud, cipher=TokenCipher(settings.secret_key),
                                    store=MongoTemplateStore(db))
        return await registry.sync_account(account_id)
    finally:
        await cloud.close()


def template_curl() -> list[str]:
    """The banner's template send (``order_update`` with its two body parameters)."""
    return [
        '  curl -s -X POST "$RELAY/messages" -H "Authorization: Bearer $KEY" \\',
        "    -H 'Content-Type: application/json' \\",
        '    -d "{\\"whatsappAccountId\\":\\"$ACCOUNT\\",\\"to\\":\\"+15551234567\\",'
        '\\"type\\":\\"Template\\",\\"template\\":{\\"name\\":\\"order_update\\",'
        '\\"language\\":\\"en_US\\",\\"components\\":[{\\"type\\":\\"body\\",\\"parameters\\":'
        '[{\\"type\\":\\"text\\",\\"text\\":\\"Ada\\"},{\\"type\\":\\"text\\",'
        '\\"text\\":\\"#1042\\"}]}]}}"',
    ]
