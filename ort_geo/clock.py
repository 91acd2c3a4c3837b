"""The tool's clock: every "today" and "now" a user reads is Europe/Paris, explicitly.

The journal stores instants in UTC (ISO 8601 with offset); what people see — the atlas date, the
reference year of long-term vacancy, journal timestamps — is the Paris calendar, whatever the
server's local zone. Use :func:`today` / :func:`now` instead of ``date.today()`` /
``datetime.now()``, and :func:`local` / :func:`format_timestamp` to show a stored instant.
The ``tzdata`` package (a dependency) carries the zone where the system has no zoneinfo.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
#: The reference years a user may ask for (``--annee``, ``?annee=``): a year outside is a typo.
FIRST_YEAR, LAST_YEAR = 1900, 2100


def now() -> dt.datetime:
    """The current instant, aware, in Europe/Paris."""
    return dt.datetime.now(PARIS)


def today() -> dt.date:
    """Today's date in Paris (not UTC, not the server's zone)."""
    return now().date()


def utc_now() -> dt.datetime:
    """The current instant in UTC (what the journal stores)."""
    return dt.datetime.now(dt.UTC)


def local(value: dt.datetime | str) -> dt.datetime:
    """A stored instant (aware datetime or ISO string) in Europe/Paris; naive means UTC."""
    stamp = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return stamp.astimezone(PARIS)


def format_timestamp(value: dt.datetime | str) -> str:
    """An instant as a French reader expects it: ``01/12/2026 à 11:28:47 (heure de Paris)``."""
    stamp = local(value)
    return f"{stamp:%d/%m/%Y} à {stamp:%H:%M:%S} (heure de Paris)"


__all__ = ["PARIS", "now", "today", "utc_now", "local", "format_timestamp"]
