from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator

from conveyor_core.settings import CommonSettings


class ApiSettings(CommonSettings):
    api_host: str = "0.0.0.0"  # noqa: S104 - a container listens on all its interfaces
    api_port: int = Field(8000, ge=1, le=65535)
    # Request bodies above this are refused with 413 before they are parsed.
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    # The same for POST /api/jobs/batch (up to 1,000 jobs).
    max_batch_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    access_log: bool = True
    # Seconds that in-flight requests get after SIGTERM; below Kubernetes' and
    # compose's 10 s so that the process always exits by itself in time.
    shutdown_timeout: float = Field(8, ge=0, le=60)
    # Slow or greedy clients: a request's head (line and headers) must arrive
    # within API_HEADER_TIMEOUT and fit in API_MAX_HEADER_BYTES (else 408/431),
    # its body within API_BODY_TIMEOUT (else 408); an idle kept-alive
    # connection is closed after API_KEEPALIVE_TIMEOUT; beyond
    # API_MAX_CONNECTIONS open connections, requests get 503.
    api_header_timeout: float = Field(10, gt=0, le=300)
    api_body_timeout: float = Field(30, gt=0, le=300)
    api_max_header_bytes: int = Field(16 * 1024, ge=1024, le=1024 * 1024)
    api_keepalive_timeout: int = Field(5, ge=1, le=300)
    api_max_connections: int = Field(1000, ge=1, le=100_000)
    # Proxies whose X-Forwarded-For and X-Forwarded-Proto are believed
    # (addresses or networks, comma-separated; "*" trusts every peer).
    forwarded_allow_ips: str = "127.0.0.1,::1"

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses(cls, value: str) -> str:
        for item in (part.strip() for part in value.split(",")):
            if item and item != "*":
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError as exc:
                    raise ValueError(f"{item!r} is not an IP address or network") from exc
        return value
