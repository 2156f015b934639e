"""`python -m wechatpay_sandbox` is the `wechatpay-sandbox` command."""

import sys

from .cli import main

sys.exit(main())
