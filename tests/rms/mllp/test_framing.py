from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rms.mllp import FrameDecoder, FrameTooLarge, frame

VT, FS, CR = b"\x0b", b"\x1c", b"\x0d"
ORU = b"MSH|^~\\&|LAB|RGT|RMS|RGT|20260101120000||ORU^R01|MSG0001|P|2.4\rPID|1||1234567^^^RGT^MR\r"


def test_frame_wraps_a_message_in_the_mllp_envelope() -> None:
    assert frame(b"MSH|x") == VT + b"MSH|x" + FS + CR


@pytest.mark.parametrize("byte", [VT, FS])
def test_frame_refuses_a_message_containing_a_framing_byte(byte: bytes) -> None:
    with pytest.raises(ValueError, match="must not contain"):
        frame(b"OBX|1|TX|||free " + byte + b" text")


def test_it_decodes_one_whole_frame() -> None:
    assert FrameDecoder(1024).feed(frame(ORU)) == [ORU]


@pytest.mark.parametrize("cut", [1, 5, len(ORU), len(ORU) + 1, len(ORU) + 2])
def test_it_reassembles_a_frame_split_across_reads(cut: int) -> None:
    # cut = len(ORU) + 2 splits between FS and CR, the trailer's own boundary.
    decoder = FrameDecoder(1024)
    data = frame(ORU)
    assert decoder.feed(data[:cut]) == []
    assert decoder.feed(data[cut:]) == [ORU]


def test_it_returns_every_frame_of_a_read_in_order() -> None:
    assert FrameDecoder(1024).feed(frame(b"one") + frame(b"two") + frame(b"three")) == [
        b"one",
        b"two",
        b"three",
    ]


def test_it_discards_and_counts_bytes_before_a_frame() -> None:
    decoder = FrameDecoder(1024)
    assert decoder.feed(b"noise\r\n" + frame(b"one") + b"xx" + frame(b"two")) == [b"one", b"two"]
    assert decoder.discarded_bytes == 9
    assert decoder.restarted_frames == 0


def test_a_start_block_inside_a_frame_restarts_it_and_counts_the_partial_frame() -> None:
    decoder = FrameDecoder(1024)
    assert decoder.feed(VT + b"partial") == []
    assert decoder.feed(frame(b"whole")) == [b"whole"]
    assert decoder.discarded_bytes == len(VT + b"partial")
    assert decoder.restarted_frames == 1


def test_a_lone_end_block_without_carriage_return_is_content() -> None:
    decoder = FrameDecoder(1024)
    assert decoder.feed(VT + b"a" + FS) == []
    assert decoder.feed(b"b" + FS + CR) == [b"a" + FS + b"b"]


def test_it_accepts_a_message_of_exactly_the_maximum_size() -> None:
    assert FrameDecoder(10).feed(frame(b"x" * 10)) == [b"x" * 10]


def test_an_oversized_frame_raises_before_it_is_buffered_and_keeps_earlier_messages() -> None:
    decoder = FrameDecoder(10)
    with pytest.raises(FrameTooLarge) as raised:
        decoder.feed(frame(b"ok") + VT + b"x" * 11)
    assert raised.value.messages == [b"ok"]
    assert raised.value.permanent
    assert decoder.pending_bytes == 0


def test_memory_stays_bounded_by_the_maximum_size_on_an_endless_frame() -> None:
    decoder = FrameDecoder(1000)
    decoder.feed(VT)
    with pytest.raises(FrameTooLarge):
        for _ in range(50_000):  # 50 MB if it were buffered
            decoder.feed(b"y" * 1000)
            assert decoder.pending_bytes <= 1000 + 2


def test_after_an_oversized_frame_it_resumes_at_the_next_frame() -> None:
    decoder = FrameDecoder(10)
    with pytest.raises(FrameTooLarge):
        decoder.feed(VT + b"x" * 20)
    assert decoder.feed(b"rest of the big one" + FS + CR + frame(b"next")) == [b"next"]


def test_pending_bytes_reports_an_unfinished_frame() -> None:
    decoder = FrameDecoder(1024)
    decoder.feed(VT + b"abc" + FS)
    assert decoder.pending_bytes == 5


# Properties ---------------------------------------------------------------------------------

_content = st.binary(max_size=200).map(lambda b: b.replace(VT, b"").replace(FS, b""))
_garbage = st.binary(max_size=20).map(lambda b: b.replace(VT, b""))


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@settings(max_examples=300, deadline=None)
@given(
    messages=st.lists(_content, max_size=10),
    garbage=st.lists(_garbage, min_size=11, max_size=11),
    cuts=st.lists(st.integers(min_value=0), max_size=30),
)
def test_any_chunking_of_a_stream_of_frames_yields_the_same_messages(
    messages: list[bytes], garbage: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(g + frame(m) for g, m in zip(garbage, messages, strict=False))
    decoder = FrameDecoder(200)
    decoded = [m for chunk in _chunks(stream, cuts) for m in decoder.feed(chunk)]
    assert decoded == messages
    assert decoder.discarded_bytes == sum(len(g) for g in garbage[: len(messages)])


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=2000).map(
        # Bias towards framing bytes so frames, restarts and trailers actually occur.
        lambda b: bytes(x if x > 16 else (0x0B, 0x1C, 0x0D)[x % 3] for x in b)
    ),
    cuts=st.lists(st.integers(min_value=0), max_size=30),
    max_size=st.integers(min_value=1, max_value=64),
)
def test_random_bytes_raise_nothing_but_frame_too_large_and_stay_bounded(
    data: bytes, cuts: list[int], max_size: int
) -> None:
    decoder = FrameDecoder(max_size)
    for chunk in _chunks(data, cuts):
        try:
            messages = decoder.feed(chunk)
        except FrameTooLarge as exc:
            messages = exc.messages
        assert all(len(m) <= max_size for m in messages)
        assert decoder.pending_bytes <= max_size + 2


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=2000).map(
        lambda b: bytes(x if x > 16 else (0x0B, 0x1C, 0x0D)[x % 3] for x in b)
    ),
    cuts=st.lists(st.integers(min_value=0), max_size=30),
)
def test_chunking_never_changes_what_arbitrary_bytes_decode_to(
    data: bytes, cuts: list[int]
) -> None:
    whole = FrameDecoder(4096)
    expected = whole.feed(data)
    decoder = FrameDecoder(4096)
    assert [m for chunk in _chunks(data, cuts) for m in decoder.feed(chunk)] == expected
    assert decoder.discarded_bytes == whole.discarded_bytes
    assert decoder.pending_bytes == whole.pending_bytes
