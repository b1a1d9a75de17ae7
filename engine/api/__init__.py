"""The engine API: the HTTP face of a runtime (local or a server) and its typed client."""
