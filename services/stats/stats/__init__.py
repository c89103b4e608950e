"""Relay service package."""
