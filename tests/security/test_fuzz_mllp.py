"""Hostile byte streams at the MLLP decoder: it raises nothing but ``FrameTooLarge``, keeps its
memory bounded, and never loses a whole frame that follows garbage (stray VT/FS bytes, a
truncated frame, an oversized one)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rms.mllp.framing import FrameDecoder, FrameTooLarge, frame

MAX = 256
MESSAGES = st.binary(max_size=MAX).map(lambda b: b.replace(b"\x0b", b"").replace(b"\x1c", b""))
# Garbage rich in the framing bytes: lone VT, FS, FS CR, CR.
GARBAGE = st.lists(
    st.sampled_from([b"\x0b", b"\x1c", b"\r", b"\x1c\r", b"MSH|", b"\x00", b"x" * 40]),
    max_size=12,
).map(b"".join)


def _feed_all(decoder: FrameDecoder, chunks: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for chunk in chunks:
        try:
            out += decoder.feed(chunk)
        except FrameTooLarge as error:
            out += error.messages
        assert decoder.pending_bytes <= MAX + 2
    return out


@settings(max_examples=300, deadline=None)
@given(garbage=GARBAGE, message=MESSAGES)
def test_a_whole_frame_fed_after_garbage_is_never_lost(garbage: bytes, message: bytes) -> None:
    decoder = FrameDecoder(max_size=MAX)
    decoded = _feed_all(decoder, [garbage, frame(message)])
    assert decoded and decoded[-1] == message


@settings(max_examples=300, deadline=None)
@given(garbage=GARBAGE, message=MESSAGES, data=st.data())
def test_garbage_and_a_frame_split_at_random_points_still_end_with_the_frame(
    garbage: bytes, message: bytes, data: st.DataObject
) -> None:
    stream = garbage + frame(message)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    decoder = FrameDecoder(max_size=MAX)
    decoded = _feed_all(decoder, chunks)
    # Garbage is never long enough to overflow here, so nothing of the frame is dropped.
    assert decoded and decoded[-1] == message


@settings(max_examples=200, deadline=None)
@given(size=st.integers(MAX + 1, 4 * MAX), message=MESSAGES)
def test_an_oversized_frame_is_refused_and_the_next_frame_still_decodes(
    size: int, message: bytes
) -> None:
    decoder = FrameDecoder(max_size=MAX)
    refused = 0
    try:
        decoder.feed(b"\x0b" + b"A" * size)
    except FrameTooLarge:
        refused += 1
    assert refused == 1
    assert decoder.pending_bytes == 0
    assert _feed_all(decoder, [frame(message)]) == [message]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=3 * MAX), max_size=8))
def test_any_stream_raises_only_frame_too_large(chunks: list[bytes]) -> None:
    decoder = FrameDecoder(max_size=MAX)
    for message in _feed_all(decoder, chunks):
        assert len(message) <= MAX
        assert b"\x0b" not in message
