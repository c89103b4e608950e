"""Typed keys of everything the ingest app holds."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CollectorRegistry

from ingest.metrics import IngestMetrics
from ingest.ports import Publisher
from shared.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
REGISTRY = web.AppKey("registry", CollectorRegistry)
METRICS = web.AppKey("metrics", IngestMetrics)
PUBLISHER = web.AppKey("publisher", Publisher)
DATABASE = web.AppKey("database", object)
WORKER = web.AppKey("worker", object)
CONNECTED = web.AppKey("broker_connected", asyncio.Event)
