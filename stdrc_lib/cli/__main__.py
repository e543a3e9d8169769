"""``python -m stdrc_lib.cli``: the same as the ``stdrc`` command."""

import sys

from . import main

sys.exit(main())
