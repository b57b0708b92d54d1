"""``python -m autoal.cli``: the ``autoal`` command."""

import sys

from autoal.cli.commands import main

sys.exit(main())
