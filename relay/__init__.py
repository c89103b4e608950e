"""The `relay` command: run the whole system, one service, the simulator, or admin tasks."""
