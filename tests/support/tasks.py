"""Tasks only the tests register (``TASK_MODULES=tests.support.tasks``); the
images never set TASK_MODULES and do not contain this file."""

from __future__ import annotations

import threading

from conveyor_core.tasks import task


@task(timeout=60)
def hang(_: None) -> None:
    """Blocks its thread forever: a task that never returns."""
    threading.Event().wait()
