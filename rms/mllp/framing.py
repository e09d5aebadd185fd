"""MLLP release 1 framing: ``<VT 0x0B> message <FS 0x1C><CR 0x0D>``.

Pure (sans-IO): the decoder is fed whatever bytes a read returned and hands back whole messages,
so the same code serves the listener's connection threads, the blocking client and the property
tests.
"""

from __future__ import annotations

START_BLOCK = 0x0B
END_BLOCK = 0x1C
CARRIAGE_RETURN = 0x0D
_START = bytes([START_BLOCK])
_TRAILER = bytes([END_BLOCK, CARRIAGE_RETURN])


class MllpError(Exception):
    """Base of every MLLP transport error.

    ``permanent`` says whether sending the same bytes again could succeed: a timeout or a dropped
    connection is transient, a message the peer will always refuse (too large) is permanent.
    """

    permanent: bool = False


class FrameTooLarge(MllpError):
    """A frame grew past the decoder's ``max_size`` before its trailer arrived."""

    permanent = True

    def __init__(self, max_size: int, messages: list[bytes]) -> None:
        super().__init__(f"MLLP frame exceeds the limit of {max_size} bytes")
        self.max_size = max_size
        # Whole messages decoded earlier in the same feed() call, so a caller can still answer
        # them before dropping the connection rather than lose them silently.
        self.messages = messages


def frame(message: bytes) -> bytes:
    """Wrap one message in the MLLP envelope.

    Refuses a message containing VT or FS: either byte would end or restart the frame early at the
    receiver and split one message into garbage (HL7 text escapes them as ``\\X0B\\``/``\\X1C\\``).
    """
    if START_BLOCK in message or END_BLOCK in message:
        raise ValueError("an MLLP message must not contain the VT (0x0B) or FS (0x1C) bytes")
    return _START + message + _TRAILER


class FrameDecoder:
    """Turn a byte stream into MLLP messages, in order, with bounded memory.

    - Bytes outside a frame (before a VT) are dropped and added to ``discarded_bytes``; only the
      count is kept, never the bytes, so it can be logged without leaking content.
    - A VT inside an open frame means the sender gave up on the partial frame and started again:
      the partial frame is dropped (counted in ``discarded_bytes`` and ``restarted_frames``).
    - A lone FS not followed by CR is kept as message content; only FS CR ends a frame.
    - A frame whose content passes ``max_size`` raises :class:`FrameTooLarge` at once, so the
      buffer never holds more than ``max_size`` bytes. The decoder then drops that frame and the
      rest of the chunk that overflowed it (counted as discarded) and hunts for the next VT.
    """

    def __init__(self, max_size: int) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1 byte")
        self.max_size = max_size
        self.discarded_bytes = 0
        self.restarted_frames = 0
        self._buffer = bytearray()
        self._in_frame = False
        # An FS that ended the previous chunk: it is the trailer if the next byte is CR.
        self._pending_fs = False

    @property
    def pending_bytes(self) -> int:
        """Bytes of an unfinished frame held in memory (VT and a trailing FS included)."""
        if not self._in_frame:
            return 0
        return 1 + len(self._buffer) + int(self._pending_fs)

    def feed(self, data: bytes) -> list[bytes]:
        """Consume ``data`` and return every message it completed, in order."""
        messages: list[bytes] = []
        pos = 0
        end = len(data)
        while pos < end:
            if not self._in_frame:
                start = data.find(START_BLOCK, pos)
                if start == -1:
                    self.discarded_bytes += end - pos
                    break
                self.discarded_bytes += start - pos
                self._in_frame = True
                pos = start + 1
                continue

            if self._pending_fs:
                self._pending_fs = False
                if data[pos] == CARRIAGE_RETURN:
                    messages.append(self._finish())
                    pos += 1
                    continue
                self._append(bytes([END_BLOCK]), data, pos, messages)

            fs = data.find(END_BLOCK, pos)
            vt = data.find(START_BLOCK, pos, fs if fs != -1 else end)
            if vt != -1:
                self.discarded_bytes += 1 + len(self._buffer) + (vt - pos)
                self.restarted_frames += 1
                self._buffer.clear()
                pos = vt + 1
                continue
            if fs == -1:
                self._append(data[pos:end], data, end, messages)
                break
            self._append(data[pos:fs], data, fs, messages)
            if fs + 1 == end:
                self._pending_fs = True
                break
            if data[fs + 1] == CARRIAGE_RETURN:
                messages.append(self._finish())
                pos = fs + 2
            else:
                self._append(bytes([END_BLOCK]), data, fs + 1, messages)
                pos = fs + 1
        return messages

    def _append(self, chunk: bytes, data: bytes, resume: int, messages: list[bytes]) -> None:
        if len(self._buffer) + len(chunk) > self.max_size:
            # Everything of the oversized frame seen so far, plus the unread rest of this chunk,
            # is dropped; feeding more bytes resumes by hunting for the next VT.
            self.discarded_bytes += 1 + len(self._buffer) + len(chunk) + (len(data) - resume)
            self._buffer.clear()
            self._in_frame = False
            self._pending_fs = False
            raise FrameTooLarge(self.max_size, messages)
        self._buffer += chunk

    def _finish(self) -> bytes:
        message = bytes(self._buffer)
        self._buffer.clear()
        self._in_frame = False
        return message
