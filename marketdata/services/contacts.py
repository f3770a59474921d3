"""Every contact with an exchange leaves its trace on the row: last success or last error."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils import timezone

from marketdata.exchanges import one_line
from marketdata.models import Exchange

LAST_ERROR_LIMIT = 1000


def exchange_contact_record(*, exchange_id: int, errors: Sequence[str] = ()) -> None:
    """Record the outcome of one contact: a success, or its errors as one line, cut short."""
    now = timezone.now()
    if errors:
        text = one_line(" | ".join(errors), LAST_ERROR_LIMIT)
        Exchange.objects.filter(pk=exchange_id).update(last_error_at=now, last_error=text)
    else:
        Exchange.objects.filter(pk=exchange_id).update(last_success_at=now)
