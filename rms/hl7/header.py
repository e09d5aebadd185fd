"""The one reader of a message's MSH segment from its raw, undecoded bytes.

Everything that must know who sent a message, its control id or its character set before the
message is decoded and parsed (storing and de-duplicating it, choosing the character set to
decode it and to answer it in, answering a message we cannot parse) reads MSH here, so that
they all agree on the same header. MSH is ASCII in every character set we take (HL7 v2 2.15.9:
MSH-18 names the character set of the rest of the message), so the bytes are read as latin-1,
which cannot fail; a value that is not ASCII is the caller's to refuse.

What comes before MSH is skipped as ``decode_message`` skips it: a UTF-8 byte order mark and
blank lines or spaces (some senders start a message with a CR). Otherwise a message that starts
with a CR would be decoded by its MSH-18 but answered as if it declared none.
"""

from __future__ import annotations

from dataclasses import dataclass

# What decode_message skips before MSH: a UTF-8 byte order mark (as latin-1 text, or decoded)
# and whitespace.
_LEADING = "\ufeff\xef\xbb\xbf \t\r\n"
# MSH is the first line; nothing we read from it lies further in than this.
_HEAD_BYTES = 4096


@dataclass(frozen=True)
class RawHeader:
    """MSH as written, split on its own field separator. ``fields[0]`` is "MSH" and
    ``fields[1]`` is MSH-2 (the encoding characters), so MSH-n is ``fields[n - 1]``."""

    fields: tuple[str, ...] = ()

    @property
    def found(self) -> bool:
        return bool(self.fields)

    @property
    def component(self) -> str:
        return self.fields[1][:1] if len(self.fields) > 1 else ""

    @property
    def repetition(self) -> str:
        return self.fields[1][1:2] if len(self.fields) > 1 else ""

    def raw(self, n: int) -> str:
        """MSH-n exactly as written (components and repetitions included); "" if absent."""
        return self.fields[n - 1] if n >= 2 and len(self.fields) >= n else ""

    def field(self, n: int, *, first_component: bool = True) -> str:
        """MSH-n, its first repetition's first component unless ``first_component`` is
        False, without surrounding whitespace."""
        value = self.raw(n)
        if first_component:
            if self.repetition:
                value = value.split(self.repetition)[0]
            if self.component:
                value = value.split(self.component)[0]
        return value.strip()

    def components(self, n: int) -> list[str]:
        """The components of MSH-n's first repetition (MSH-9: type, trigger, structure)."""
        value = self.raw(n)
        if self.repetition:
            value = value.split(self.repetition)[0]
        return value.split(self.component) if self.component else [value]

    @property
    def charset(self) -> str:
        """MSH-18, the character set: first repetition, first component; "" when blank."""
        return self.field(18)


def first_line(raw: bytes | str) -> str:
    """The message's first line, after what ``decode_message`` skips, as text."""
    text = raw[:_HEAD_BYTES].decode("latin-1") if isinstance(raw, bytes) else raw[:_HEAD_BYTES]
    text = text.lstrip(_LEADING)
    return text.replace("\n", "\r").split("\r", 1)[0]


def read_msh(raw: bytes | str) -> RawHeader:
    """The MSH segment of ``raw`` (bytes, or text already decoded); an empty ``RawHeader``
    (``found`` False) when the message does not start with one."""
    line = first_line(raw)
    if not line.startswith("MSH") or len(line) < 8:
        return RawHeader()
    separator = line[3]
    fields = line.split(separator)
    # fields[0] is "MSH" and fields[1] MSH-2: MSH-1 is the separator itself.
    return RawHeader(fields=tuple(fields))
