"""Every typed key the gateway stores on its ``web.Application``, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry

from shared.broker import Broker
from shared.cloudapi import CloudApi
from shared.db import Database
from shared.media import MediaStore
from shared.secrets import TokenCipher
from shared.settings import Settings
from shared.store import EventOutbox
from shared.template_registry import TemplateRegistry

if TYPE_CHECKING:
    from gateway.accept import Acceptor
    from gateway.auth import Authenticator
    from gateway.export import ExportSlots
    from gateway.intake import Intake
    from gateway.metrics import GatewayMetrics
    from gateway.ratelimit import RateLimiter

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
BROKER = web.AppKey("broker", Broker)
OUTBOX = web.AppKey("outbox", EventOutbox)
CLOUD = web.AppKey("cloud_api", CloudApi)
MEDIA: web.AppKey[MediaStore] = web.AppKey("media_store")
CIPHER = web.AppKey("token_cipher", TokenCipher)
REGISTRY = web.AppKey("registry", CollectorRegistry)
METRICS: web.AppKey[GatewayMetrics] = web.AppKey("metrics")
AUTH: web.AppKey[Authenticator] = web.AppKey("authenticator")
LIMITER: web.AppKey[RateLimiter] = web.AppKey("rate_limiter")
# One running export per API key (GET /messages/export).
EXPORTS: web.AppKey[ExportSlots] = web.AppKey("export_slots")
ACCEPTOR: web.AppKey[Acceptor] = web.AppKey("acceptor")
INTAKE: web.AppKey[Intake] = web.AppKey("intake")
# Templates: ``.store`` is the cached store (``find`` cached 1 s), ``.sync_account`` the sync.
TEMPLATES = web.AppKey("templates", TemplateRegistry)
