"""Converting a result's number between equivalent units.

Only mass concentrations convert (g, mg, ug, ng, pg per L, dL or mL): ug/L and ng/mL are the
same number, ng/L is 1000 times it. Spellings are forgiving where they cannot be misread
(case, spaces, "µ", "μ", "u" and "mcg" for micro). Units outside the table compare only with the
same units, unchanged: kU/L against kU/L is safe, kU/L against U/mL (the same thing) raises
rather than be guessed at, and so does anything molar against anything by mass.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from careplans.followup.rules.types import UnitError

# Powers of ten relative to g and L.
_MASS = {"g": 0, "mg": -3, "ug": -6, "ng": -9, "pg": -12}
_VOLUME = {"l": 0, "dl": -1, "ml": -3}
_TABLE = "g, mg, ug, ng or pg per L, dL or mL"


@lru_cache(maxsize=1024)
def canonical_units(units: str) -> str:
    """The spelling units are compared by: lower case, no spaces, "u" for micro."""
    text = "".join(units.split()).lower()
    # U+00B5 MICRO SIGN and U+03BC GREEK SMALL LETTER MU both reach us from lab systems.
    text = text.replace("\u00b5", "u").replace("\u03bc", "u")
    if text.startswith("mcg"):
        text = "ug" + text[3:]
    return text


def _exponent(canonical: str) -> int | None:
    """The power of ten that turns a value in these units into g/L, or None if not in the table."""
    mass, slash, volume = canonical.partition("/")
    if not slash or mass not in _MASS or volume not in _VOLUME:
        return None
    return _MASS[mass] - _VOLUME[volume]


def normalise_units(value: Decimal, units: str, target_units: str) -> Decimal:
    """``value`` in ``units`` expressed in ``target_units``, exactly; raises UnitError if it
    cannot be (no units, units outside the table, or units of another kind)."""
    if not units.strip():
        raise UnitError(
            f"the result has no units, so it cannot be compared with a limit in {target_units}",
            units=units,
        )
    if not target_units.strip():
        raise UnitError("the rule has no units to compare results in", units=target_units)
    shift = _shift(units, target_units)
    # scaleb moves the decimal point without rounding: a conversion never changes a digit.
    return value if shift == 0 else value.scaleb(shift)


@lru_cache(maxsize=1024)
def _shift(units: str, target_units: str) -> int:
    """The power of ten from ``units`` to ``target_units`` (0 for the same units); raises
    UnitError when they cannot be converted. Cached: every result of a series has the same
    units, and rules run over hundreds of them."""
    source, target = canonical_units(units), canonical_units(target_units)
    if source == target:
        return 0
    source_exponent, target_exponent = _exponent(source), _exponent(target)
    if source_exponent is None or target_exponent is None:
        unknown = units if source_exponent is None else target_units
        raise UnitError(
            f"cannot convert {units!r} to {target_units!r}: {unknown!r} is not a mass "
            f"concentration ({_TABLE})",
            units=unknown,
        )
    return source_exponent - target_exponent
