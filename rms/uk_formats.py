"""UK postcodes and telephone numbers: what a clinician types, checked and tidied.

Postcodes (Royal Mail's format, as the UK Government Data Standards Catalogue's postcode
standard gives it): an outward code of one or two letters, a digit, and an optional digit or
letter (A9, A99, AA9, AA99, A9A, AA9A), then the inward code, a digit and two letters. The
inward letters are never C, I, K, M, O or V. GIR 0AA is the one historic exception. Written
in capitals with one space before the inward code.

Telephone numbers (Ofcom's National Telephone Numbering Plan): a national number is 0 and ten
digits (11 in all), but some 01 area codes and 0800 numbers have nine after the 0 (10 in all).
01 and 02 are geographic, 03 non-geographic, 05 corporate, 07 mobile and personal, 08 and 09
special rates; 04 and 06 are not in use. A mobile number is 07 and nine digits (the plan's 07
range also holds personal numbers, 070, and pagers, 076, which are not mobiles; 07624 is the
Isle of Man's mobiles). +44 or 0044 replaces the leading 0, sometimes written +44 (0). A number
abroad is accepted in international form (+, a country code, at most 15 digits in all: ITU-T
E.164), so a patient abroad keeps their number.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

_POSTCODE = re.compile(
    r"(?P<outward>[A-PR-UWYZ][A-HK-Y]?[0-9][0-9A-HJKMNPR-Y]?)\s*(?P<inward>[0-9][ABD-HJLNP-UW-Z]{2})"
)
_GIRO = re.compile(r"GIR\s*0AA")
_PHONE_PUNCTUATION = re.compile(r"[\s\-().]")
_NATIONAL = re.compile(r"0(?:[1-35789][0-9]{9}|1[0-9]{8}|80[0-9]{7})")
_MOBILE = re.compile(r"07(?:[1-57-9][0-9]{8}|624[0-9]{6})")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def postcode_normalise(value: str) -> str:
    """A valid postcode in its written form (``sw1a1aa`` -> ``SW1A 1AA``); other text is
    returned stripped and upper-cased, for ``postcode_invalid_reason`` to explain."""
    text = " ".join((value or "").split()).upper()
    if _GIRO.fullmatch(text):
        return "GIR 0AA"
    match = _POSTCODE.fullmatch(text)
    if match:
        return f"{match['outward']} {match['inward']}"
    return text


def postcode_invalid_reason(value: str) -> str | None:
    text = postcode_normalise(value)
    if not text or _GIRO.fullmatch(text) or _POSTCODE.fullmatch(text):
        return None
    return "This is not a UK postcode: it is written like SW1A 1AA or M1 1AE."


def _national(value: str) -> str:
    """The number without punctuation, +44 (0), +44 or 0044 written as the leading 0."""
    digits = _PHONE_PUNCTUATION.sub("", value or "")
    for prefix in ("+440", "+44", "0044"):
        if digits.startswith(prefix):
            return "0" + digits[len(prefix) :]
    return digits


def phone_invalid_reason(value: str, *, mobile: bool = False) -> str | None:
    """Why ``value`` is not a UK telephone number (or, with ``mobile``, a UK mobile), or None
    if it is one. A blank value is fine; a number abroad in international form is accepted."""
    text = (value or "").strip()
    if not text:
        return None
    number = _national(text)
    if number.startswith("+"):
        if _E164.fullmatch(number):
            return None
        return "A number abroad is written as + and the country code, at most 15 digits."
    if not number.isdigit():
        return "A telephone number has digits only (spaces, brackets and + are fine)."
    if mobile:
        if _MOBILE.fullmatch(number):
            return None
        return "A UK mobile number starts 07 and has 11 digits, like 07700 900123."
    if _NATIONAL.fullmatch(number):
        return None
    return (
        "A UK telephone number starts 0 and has 11 digits, like 0113 496 0000 "
        "(10 for some 01 and 0800 numbers)."
    )


def validate_uk_phone(value: str) -> None:
    """A model field validator: a UK telephone number (or one abroad in international form)."""
    reason = phone_invalid_reason(value)
    if reason:
        raise ValidationError(reason)


def contains_number(text: str, number: str) -> bool:
    """Whether ``text`` gives ``number`` somewhere, however it is spaced or prefixed."""
    wanted = _national(number)
    if not wanted.isdigit():
        return False
    gap = r"[\s\-().]*"
    if wanted.startswith("0"):
        prefix = r"(?:0|\+44\s*(?:\(0\))?\s*|0044\s*)"
        digits = wanted[1:]
    else:
        prefix, digits = "", wanted
    pattern = r"(?<![\d+])" + prefix + gap.join(digits) + r"(?!\d)"
    return re.search(pattern, text or "") is not None
