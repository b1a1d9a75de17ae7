"""The Aerostudio studio: a PySide6 client of the engine.

It imports only `engine.flow`, `engine.nodes` and `engine.paths` (and, later, the API client);
never DBOS, SQLAlchemy or the MCP SDK.
"""
