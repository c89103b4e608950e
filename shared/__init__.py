"""Relay's contracts: settings, models, topology, the broker and database adapters, observability."""
