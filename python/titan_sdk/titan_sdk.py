"""The original Titan SDK's module path: ``from titan_sdk.titan_sdk import TitanClient, TitanJob``
keeps working, giving this SDK's classes (which keep the original's methods and parameters; see
README.md, "Compatibility with the original SDK").

``TITAN_HOST`` and ``TITAN_PORT`` are read from the environment as the original read them; the
client takes its address from the same variables (or ``TITAN_MASTER``) when it is created.
"""

import os

from .client import TitanClient
from .jobs import TitanJob

TITAN_HOST = os.environ.get("TITAN_HOST", "127.0.0.1")
TITAN_PORT = int(os.environ.get("TITAN_PORT", "9090")) if os.environ.get("TITAN_PORT", "9090").isdigit() else 9090

__all__ = ["TitanClient", "TitanJob", "TITAN_HOST", "TITAN_PORT"]
