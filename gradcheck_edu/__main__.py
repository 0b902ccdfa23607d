"""``python -m gradcheck_edu [demo | figures --out DIR]``."""

import sys

from .cli import main

sys.exit(main())
