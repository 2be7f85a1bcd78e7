"""``python -m wechat_openapi``: the same command line as ``wechat-openapi``."""

import sys

from .cli import main

sys.exit(main())
