"""Every typed key the gateway stores on its ``web.Application``, in one place."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from shared.broker import Broker
from shared.cloudapi import CloudApi
from shared.db import Database
from shared.media import MediaStore
from shared.secrets import TokenCipher
from shared.settings import Settings
from shared.store import EventOutbox

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
BROKER = web.AppKey("broker", Broker)
OUTBOX = web.AppKey("outbox", EventOutbox)
CLOUD = web.AppKey("cloud_api", CloudApi)
MEDIA = web.AppKey("media_store", MediaStore)  # type: ignore[type-abstract]
CIPHER = web.AppKey("token_cipher", TokenCipher)
REGISTRY = web.AppKey("registry", CollectorRegistry)
METRICS = web.AppKey("metrics", Any)       # gateway.metrics.GatewayMetrics
AUTH = web.AppKey("authenticator", Any)    # gateway.auth.Authenticator
LIMITER = web.AppKey("rate_limiter", Any)  # gateway.ratelimit.RateLimiter
ACCEPTOR = web.AppKey("acceptor", Any)     # gateway.accept.Acceptor
INTAKE = web.AppKey("intake", Any)         # gateway.intake.Intake
