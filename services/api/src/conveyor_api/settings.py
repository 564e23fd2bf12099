from __future__ import annotations

from pydantic import Field

from conveyor_core.settings import CommonSettings


class ApiSettings(CommonSettings):
    api_host: str = "0.0.0.0"  # noqa: S104 - a container listens on all its interfaces
    api_port: int = Field(8000, ge=1, le=65535)
    # Request bodies above this are refused with 413 before they are parsed.
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    access_log: bool = True
    # Seconds that in-flight requests get after SIGTERM; below Kubernetes' and
    # compose's 10 s so that the process always exits by itself in time.
    shutdown_timeout: float = Field(8, ge=0, le=60)
