"""When a job is due: ``run_at`` (an RFC 3339 time) or ``delay_seconds``.

RFC 3339 is checked by its own grammar rather than by pydantic's lax datetime
parser, which also takes unix times ("1700000000") and dates without a time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

# The longest delay a submit may ask for (30 days); run_at is not bounded.
MAX_DELAY_SECONDS = 30 * 24 * 3600
RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$")
# Far enough from datetime.max that no time zone can carry it past year 9999.
LATEST = datetime(9999, 12, 30, tzinfo=UTC)
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)


def parse_rfc3339(value: object) -> datetime:
    """The instant, in UTC; a leap second counts as the end of its minute."""
    if not isinstance(value, str) or not (match := RFC3339.match(value)):
        raise ValueError("must be an RFC 3339 date-time with a time zone, e.g. 2030-01-01T09:00:00Z")
    day, hour, minute, second, fraction, zone = match.groups()
    leap = second == "60"
    micros = (fraction or "").ljust(6, "0")[:6]
    text = f"{day}T{hour}:{minute}:{'59' if leap else second}.{micros}{'+00:00' if zone in 'Zz' else zone}"
    parsed = datetime.fromisoformat(text)  # ValueError for a day or hour that does not exist
    if leap:
        parsed = parsed.replace(microsecond=999_999)
    try:
        return min(max(parsed.astimezone(UTC), EARLIEST), LATEST)
    except OverflowError:  # year 1 east of Greenwich, or year 9999 west of it
        return EARLIEST if parsed.year == 1 else LATEST
