"""``python -m vault.cli``: the ``vault`` command."""

import sys

from vault.cli import main

sys.exit(main())
