"""``conveyor-api``: validate the configuration, then serve with uvicorn."""

from __future__ import annotations

import uvicorn

from conveyor_core import logs
from conveyor_core import settings as config

from .app import create_app
from .settings import ApiSettings


def main() -> None:
    settings = config.load(ApiSettings)
    logs.setup("api", settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,  # keep the JSON logging set up above
        access_log=False,  # the Observe middleware logs each request, with its job id
        proxy_headers=True,
        forwarded_allow_ips="*",
        server_header=False,
        # On SIGTERM uvicorn stops accepting, lets in-flight requests finish for
        # at most this long, then exits: well inside a 10 s grace period.
        timeout_graceful_shutdown=settings.shutdown_timeout,
    )


if __name__ == "__main__":
    main()
