"""Typed keys of everything the ingest app holds."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CollectorRegistry
from pymongo.asynchronous.database import AsyncDatabase

from ingest.media import MediaSource
from ingest.metrics import IngestMetrics
from ingest.ports import Publisher
from shared.db import Database
from shared.media import MediaStore
from shared.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
REGISTRY = web.AppKey("registry", CollectorRegistry)
METRICS = web.AppKey("metrics", IngestMetrics)
PUBLISHER = web.AppKey("publisher", Publisher)
DATABASE: web.AppKey[Database] = web.AppKey("database", AsyncDatabase)
WORKER = web.AppKey("worker", object)
CONNECTED = web.AppKey("broker_connected", asyncio.Event)
CLOUD = web.AppKey("cloud", MediaSource)
MEDIA_STORE = web.AppKey("media_store", MediaStore)
