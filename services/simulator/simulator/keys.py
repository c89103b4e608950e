"""Typed keys of the simulator's ``web.Application``."""

from __future__ import annotations

from aiohttp import web

from simulator.metrics import SimMetrics
from simulator.state import SimState
from simulator.webhooks import WebhookPoster

STATE = web.AppKey("sim_state", SimState)
POSTER = web.AppKey("sim_poster", WebhookPoster)
METRICS = web.AppKey("sim_metrics", SimMetrics)
