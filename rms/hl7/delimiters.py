"""The encoding characters of a message (MSH-1 and MSH-2)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Delimiters:
    """Field, component, repetition, escape and sub-component separators.

    ``truncation`` is the optional fifth MSH-2 character of v2.7 (``#``); older messages
    have none and it is ``""``.
    """

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str = ""

    @property
    def encoding_characters(self) -> str:
        """MSH-2 as it is written in a message."""
        return f"{self.component}{self.repetition}{self.escape}{self.subcomponent}{self.truncation}"


# What we write in our own messages (ACKs), whatever the sender used (I10).
DEFAULT_DELIMITERS = Delimiters()
