"""Time bounds as users give them: any pandas-parsable time, aware ones converted to UTC."""

from __future__ import annotations

import pandas as pd

from .errors import ConfigError

__all__ = ["to_utc_naive"]


def to_utc_naive(moment: object, option: str) -> pd.Timestamp:
    """Parse a user-given time bound; aware times are converted to UTC."""
    try:
        stamp = pd.Timestamp(moment)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{option}: cannot parse {moment!r} as a time ({exc})") from None
    if stamp is pd.NaT:
        raise ConfigError(f"{option}: {moment!r} is not a time")
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp
