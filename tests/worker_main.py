"""Entry point of the real Celery worker that the integration tests start.

When the test pins the clock (the `demo_clock` fixture), the worker must see the same
"now": `AUTONOMAX_TEST_NOW` carries the test's current instant and the worker travels
there too (ticking, like the test's clock), so data made relative to "now" reads the
same in both processes.
"""

import os
import sys
from datetime import datetime

if __name__ == "__main__":
    moment = os.environ.get("AUTONOMAX_TEST_NOW")
    if moment:
        import time_machine

        time_machine.travel(datetime.fromisoformat(moment), tick=True).start()
    from celery.__main__ import main

    sys.argv[0] = "celery"
    sys.exit(main())
