"""Time bounds as users give them: any pandas-parsable time, aware ones converted to UTC."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["to_utc_naive"]


def to_utc_naive(moment: object, option: str) -> pd.Timestamp:
    """Parse a user-given time bound; aware times are converted to UTC.

    pandas is imported here, not with the module: the command line reads its
    options before pandas is needed (see fork_server.py).
    """
    import pandas as pd

    try:
        stamp = pd.Timestamp(moment)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{option}: cannot parse {moment!r} as a time ({exc})") from None
    if stamp is pd.NaT:
        raise ConfigError(f"{option}: {moment!r} is not a time")
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp
