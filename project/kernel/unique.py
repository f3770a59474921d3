"""Saving a row whose name is unique per owner: a taken name is one field error, even in a race."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Model


def owner_unique_save(instance: Model, *, field: str, message: str) -> None:
    """Validate and save `instance`, whose `field` is unique per owner (a constraint on
    (owner, field)): a value the owner already uses is a ValidationError on `field`.

    The check before saving gives the error with the others; the constraint, caught on save,
    gives the same error when two saves race past the check.
    """
    duplicates = type(instance)._default_manager.filter(
        owner_id=instance.owner_id, **{field: getattr(instance, field)}
    )
    if instance.pk is not None:
        duplicates = duplicates.exclude(pk=instance.pk)
    if duplicates.exists():
        raise ValidationError({field: message})
    instance.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise ValidationError({field: message}) from None
