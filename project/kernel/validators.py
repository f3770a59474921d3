"""Shared rules for what users type: names without control characters, and the bounds of an
amount. Model fields carry them, so the admin, the API and the published schema (a `pattern`,
`minimum`, `maximum`) all apply the same rule. A strategy's own bounds are in strategies.bounds."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator

from project.kernel.decimals import STORED_PLACES

# Invisible or reordering characters: C0/C1 controls, soft hyphen, bidi marks, embeddings and
# overrides (U+202E shows text reversed), isolates, zero-width characters, line and paragraph
# separators and the BOM. (Lone surrogates: DRF refuses them on every text field.) Written with
# \u escapes that Python's `re` and the ECMA regexes of OpenAPI clients both read.
CONTROL_CHARACTERS = (
    r"\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e"
    r"\u2060-\u206f\ufeff"
)
# One visible character at least; none of the above, no whitespace at either end.
VISIBLE_TEXT = rf"[^\s{CONTROL_CHARACTERS}](?:[^{CONTROL_CHARACTERS}]*[^\s{CONTROL_CHARACTERS}])?"


def visible_text(*, allow_blank: bool = False) -> RegexValidator:
    """Refuses control and invisible characters and spaces at either end (names, credentials).

    API fields that use it keep `trim_whitespace=False`: a value is refused, never changed.
    """
    return RegexValidator(
        rf"^(?:{VISIBLE_TEXT})?$" if allow_blank else rf"^{VISIBLE_TEXT}$",
        message="Use visible characters: no control or invisible characters, "
        "no space at either end.",
        code="invisible_characters",
    )


validate_name = visible_text()

# Largest amount of an asset (quote to spend, position): with the places orders are stored
# with (STORED_PLACES, 12), it stays inside the 28 digits Decimal arithmetic keeps exact.
AMOUNT_MAX = Decimal(10) ** 12
AMOUNT_DECIMAL_PLACES = STORED_PLACES
amount_validators = [MinValueValidator(0), MaxValueValidator(AMOUNT_MAX)]
# The same as text (what the API sends and takes): 0 to 10^12, up to 12 decimal places.
AMOUNT_TEXT = r"^(?:\d{1,12}(?:\.\d{1,12})?|1000000000000(?:\.0{1,12})?)$"
