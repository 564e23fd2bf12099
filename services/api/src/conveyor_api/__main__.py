"""``conveyor-api``: validate the configuration, then serve with uvicorn."""

from __future__ import annotations

from conveyor_core import logs, tasks, tracing
from conveyor_core import settings as config

from . import server
from .app import create_app
from .settings import ApiSettings


def main() -> None:
    settings = config.load(ApiSettings)
    logs.setup("api", settings.log_level)
    tracing.setup("conveyor-api")  # before create_app, which adds the submit spans if on
    tasks.load(settings.task_modules)
    server.run(create_app(settings), settings)


if __name__ == "__main__":
    main()
