"""Relay's contracts: settings, models, topology, broker and database adapters, observability."""
