"""Settings every test process starts with (and the processes it starts inherit)."""

from __future__ import annotations

import os

# No keyring unless a test sets one (tests/memory_keyring.py): the machine's own is never
# touched, and the default does not depend on which test modules were imported. (Importing the
# memory backend made it keyring's default, so the master key went into this process's memory
# while the processes a test starts used a key file: two keys for one database.)
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
