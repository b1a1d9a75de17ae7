"""`python -m engine` is the `aerostudio` command."""

import sys

from engine.cli import main

sys.exit(main())
