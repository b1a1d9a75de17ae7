"""Aerostudio's engine: the flow document, the interpreter, the gateway and the runtime API.

Nothing here imports Qt or the studio.
"""

__version__ = "0.1.0"
