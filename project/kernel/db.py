"""Database helpers every app shares: batched deletes."""

from __future__ import annotations

from django.db.models import Model, QuerySet


def delete_in_batches(queryset: QuerySet[Model], *, batch_size: int) -> int:
    """Delete the queryset's rows a batch at a time, each batch its own short transaction,
    so that no long lock holds up the workers writing the same tables."""
    deleted = 0
    while True:
        ids = list(queryset.order_by().values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        count, _ = queryset.model.objects.filter(pk__in=ids).delete()
        deleted += count
