"""The build date is an input, never the wall clock read deep inside the code.

``--as-of YYYY-MM-DD`` wins; otherwise ``SOURCE_DATE_EPOCH`` (seconds since 1970, the
reproducible-builds convention) read as a date in China Standard Time; otherwise today in China
Standard Time, resolved once at the command line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone

from .errors import ConfigError

CHINA = timezone(timedelta(hours=8))


def resolve_as_of(text: str | None, environ: Mapping[str, str] | None = None) -> date:
    environ = os.environ if environ is None else environ
    if text:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ConfigError(f"--as-of 的值「{text}」不是日期。请写成 YYYY-MM-DD，例如 --as-of 2026-11-23。") from None
    epoch = environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch:
        try:
            return datetime.fromtimestamp(int(epoch), CHINA).date()
        except (ValueError, OverflowError, OSError):
            raise ConfigError(f"SOURCE_DATE_EPOCH 的值「{epoch}」不是秒数。请设为整数秒，或改用 --as-of YYYY-MM-DD。") from None
    return datetime.now(CHINA).date()
