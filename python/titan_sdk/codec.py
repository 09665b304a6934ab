"""TITAN_PROTO primitives: frames, big-endian binary fields, and field codecs.

Framing (``Sources/TitanProtocol/Frame.swift``): every frame is an 8-byte header, then the payload::

    offset  size  field
    0       1     version   (2 = native)
    1       1     opcode
    2       1     flags     (0)
    3       1     reserved  (0)
    4       4     payload length, u32 big-endian (at most 16 MiB)

Fields (``BinaryCoding.swift``): integers big-endian and fixed width; bool one byte 0/1; bytes =
u32 length + raw bytes; string = bytes holding UTF-8; optional = u8 0/1 then the value; array =
u32 count then the elements; string dictionary = u32 count then key/value pairs sorted by key.

Field codecs are small objects with ``write(writer, value)`` and ``read(reader)``; structs and
messages are described as lists of ``(attribute, codec)`` (see :mod:`titan_sdk.protocol`). A
payload that does not decode raises :class:`~titan_sdk.errors.ProtocolError` naming the field,
like the Swift codec: ``field 'spec.command[2]': truncated (needs 4 bytes, 1 left)``.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import Any, Callable, Generic, Iterable, Optional, Sequence, TypeVar

from .errors import InvalidRequest, ProtocolError

#: Size of a frame header.
HEADER_SIZE = 8
#: The native protocol version.
NATIVE_VERSION = 2
#: The original Titan protocol version (not spoken by this SDK).
V1_VERSION = 1
#: Largest payload a frame may carry (the master's default limit).
MAX_PAYLOAD = 16 << 20

_HEADER = struct.Struct(">BBBBI")
_U8 = struct.Struct(">B")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# Frames


def encode_frame(opcode: int, payload: bytes, version: int = NATIVE_VERSION, flags: int = 0) -> bytes:
    """A complete frame: header then payload."""
    if len(payload) > 0xFFFFFFFF:
        raise InvalidRequest("frame payload too large to encode")
    return _HEADER.pack(version, opcode, flags, 0, len(payload)) + payload


class FrameError(ProtocolError):
    """The byte stream lost its framing (bad version, oversized frame): the connection is unusable."""


class FrameDecoder:
    """Splits a byte stream into frames; bytes may arrive in any split.

    Feed bytes with :meth:`feed`, then call :meth:`next` until it returns ``None``. Each frame
    comes back as ``(version, opcode, flags, payload)``. Errors are sticky, as in the Swift
    ``FrameDecoder``: once the framing is lost, every later call raises the same error.
    """

    __slots__ = ("max_payload", "accepted_versions", "_buffer", "_index", "_error")

    def __init__(self, max_payload: int = MAX_PAYLOAD, accepted_versions: Iterable[int] = (NATIVE_VERSION,)) -> None:
        self.max_payload = max_payload
        self.accepted_versions = frozenset(accepted_versions)
        self._buffer = bytearray()
        self._index = 0
        self._error: Optional[FrameError] = None

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned in a frame."""
        return len(self._buffer) - self._index

    def feed(self, data: bytes) -> None:
        """Appends received bytes."""
        if self._error is not None or not data:
            return
        if self._index > 65536 and self._index * 2 > len(self._buffer):
            del self._buffer[: self._index]
            self._index = 0
        self._buffer += data

    def next(self) -> Optional[tuple[int, int, int, bytes]]:
        """The next complete frame, or ``None`` when more bytes are needed."""
        if self._error is not None:
            raise self._error
        buf = self._buffer
        start = self._index
        available = len(buf) - start
        if available <= 0:
            return None
        version = buf[start]
        if version not in self.accepted_versions:
            return self._fail(FrameError(f"unsupported protocol version {version}"))
        if available < HEADER_SIZE:
            return None
        _, opcode, flags, _, length = _HEADER.unpack_from(buf, start)
        if length > self.max_payload:
            return self._fail(FrameError(
                f"frame too large: payload of {length} bytes exceeds the limit of {self.max_payload} bytes"))
        end = start + HEADER_SIZE + length
        if len(buf) < end:
            return None
        payload = bytes(buf[start + HEADER_SIZE:end])
        if end == len(buf):
            buf.clear()
            self._index = 0
        else:
            self._index = end
        return version, opcode, flags, payload

    def frames(self) -> list[tuple[int, int, int, bytes]]:
        """Every complete frame buffered now."""
        out = []
        while True:
            frame = self.next()
            if frame is None:
                return out
            out.append(frame)

    def _fail(self, error: FrameError) -> None:
        self._error = error
        self._buffer = bytearray()
        self._index = 0
        raise error


# ---------------------------------------------------------------------------------------------
# Writer / Reader


class Writer:
    """Appends big-endian fields to a byte buffer."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def u8(self, v: int) -> None:
        self.buf += _U8.pack(v)

    def u16(self, v: int) -> None:
        self.buf += _U16.pack(v)

    def u32(self, v: int) -> None:
        self.buf += _U32.pack(v)

    def u64(self, v: int) -> None:
        self.buf += _U64.pack(v)

    def i32(self, v: int) -> None:
        self.buf += _I32.pack(v)

    def i64(self, v: int) -> None:
        self.buf += _I64.pack(v)

    def boolean(self, v: bool) -> None:
        self.buf.append(1 if v else 0)

    def raw(self, v: bytes) -> None:
        self.buf += _U32.pack(len(v))
        self.buf += v

    def string(self, v: str) -> None:
        self.raw(v.encode("utf-8"))


class Malformed(Exception):
    """Internal: a field failed to decode; ``path`` grows as the error leaves nested codecs."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str] = []

    def field_path(self) -> str:
        out = ""
        for part in self.path:
            if part.startswith("[") or part.startswith(" ") or not out:
                out += part
            else:
                out += "." + part
        return out


class Reader:
    """Reads big-endian fields from a payload, raising :class:`Malformed` on short or bad data."""

    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes, pos: int = 0, end: Optional[int] = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def _take(self, size: int) -> int:
        pos = self.pos
        if self.end - pos < size:
            raise Malformed(f"truncated (needs {size} bytes, {self.end - pos} left)")
        self.pos = pos + size
        return pos

    def u8(self) -> int:
        return self.data[self._take(1)]

    def u16(self) -> int:
        return _U16.unpack_from(self.data, self._take(2))[0]

    def u32(self) -> int:
        return _U32.unpack_from(self.data, self._take(4))[0]

    def u64(self) -> int:
        return _U64.unpack_from(self.data, self._take(8))[0]

    def i32(self) -> int:
        return _I32.unpack_from(self.data, self._take(4))[0]

    def i64(self) -> int:
        return _I64.unpack_from(self.data, self._take(8))[0]

    def boolean(self) -> bool:
        v = self.data[self._take(1)]
        if v > 1:
            raise Malformed(f"invalid bool {v} (must be 0 or 1)")
        return v == 1

    def count(self, min_item_size: int = 1) -> int:
        """A u32 count that must not promise more items than the bytes left can hold."""
        n = self.u32()
        if n > self.remaining // max(1, min_item_size):
            raise Malformed(f"truncated (count {n} needs at least {n * max(1, min_item_size)} bytes, "
                            f"{self.remaining} left)")
        return n

    def raw(self) -> bytes:
        n = self.count()
        pos = self.pos
        self.pos = pos + n
        return bytes(self.data[pos:pos + n])

    def string(self) -> str:
        n = self.count()
        pos = self.pos
        try:
            s = str(self.data[pos:pos + n], "utf-8")
        except UnicodeDecodeError:
            raise Malformed("invalid UTF-8") from None
        self.pos = pos + n
        return s

    def expect_end(self) -> None:
        if self.pos != self.end:
            raise Malformed(f"trailing bytes: {self.end - self.pos} after the last field")


# ---------------------------------------------------------------------------------------------
# Field codecs


class Codec(Generic[T]):
    """Writes and reads one kind of field. ``min_size`` is its smallest encoding, in bytes."""

    min_size = 1

    def write(self, w: Writer, v: T) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def read(self, r: Reader) -> T:  # pragma: no cover - abstract
        raise NotImplementedError


class _Prim(Codec[Any]):
    def __init__(self, name: str, size: int, write: Callable[[Writer, Any], None],
                 read: Callable[[Reader], Any]) -> None:
        self.name = name
        self.min_size = size
        self.write = write  # type: ignore[method-assign]
        self.read = read  # type: ignore[method-assign]


U8: Codec[int] = _Prim("u8", 1, Writer.u8, Reader.u8)
U16: Codec[int] = _Prim("u16", 2, Writer.u16, Reader.u16)
U32: Codec[int] = _Prim("u32", 4, Writer.u32, Reader.u32)
U64: Codec[int] = _Prim("u64", 8, Writer.u64, Reader.u64)
I32: Codec[int] = _Prim("i32", 4, Writer.i32, Reader.i32)
I64: Codec[int] = _Prim("i64", 8, Writer.i64, Reader.i64)
BOOL: Codec[bool] = _Prim("bool", 1, Writer.boolean, Reader.boolean)
BYTES: Codec[bytes] = _Prim("bytes", 4, Writer.raw, Reader.raw)
STRING: Codec[str] = _Prim("string", 4, Writer.string, Reader.string)


class OptionalOf(Codec[Optional[T]]):
    """u8 0 (absent) or 1 then the value."""

    min_size = 1

    def __init__(self, inner: Codec[T]) -> None:
        self.inner = inner

    def write(self, w: Writer, v: Optional[T]) -> None:
        if v is None:
            w.buf.append(0)
        else:
            w.buf.append(1)
            self.inner.write(w, v)

    def read(self, r: Reader) -> Optional[T]:
        tag = r.u8()
        if tag == 0:
            return None
        if tag != 1:
            raise Malformed(f"invalid optional tag {tag} (must be 0 or 1)")
        return self.inner.read(r)


class ArrayOf(Codec[list[T]]):
    """u32 count then the elements."""

    min_size = 4

    def __init__(self, inner: Codec[T]) -> None:
        self.inner = inner

    def write(self, w: Writer, v: Sequence[T]) -> None:
        w.u32(len(v))
        inner = self.inner
        for i, item in enumerate(v):
            try:
                inner.write(w, item)
            except _EncodeError as e:
                e.path.insert(0, f"[{i}]")
                raise
            except (struct.error, TypeError, AttributeError, ValueError) as e:
                err = _EncodeError(str(e))
                err.path.append(f"[{i}]")
                raise err from None

    def read(self, r: Reader) -> list[T]:
        n = r.count(self.inner.min_size)
        inner = self.inner
        out = []
        for i in range(n):
            try:
                out.append(inner.read(r))
            except Malformed as e:
                e.path.insert(0, f"[{i}]")
                raise
        return out


class _StringDict(Codec[dict[str, str]]):
    """u32 count then key/value string pairs, written sorted by key; a repeated key is malformed."""

    min_size = 4

    def write(self, w: Writer, v: dict[str, str]) -> None:
        w.u32(len(v))
        for key in sorted(v):
            w.string(key)
            w.string(v[key])

    def read(self, r: Reader) -> dict[str, str]:
        n = r.count(8)
        out: dict[str, str] = {}
        for _ in range(n):
            key = r.string()
            try:
                value = r.string()
            except Malformed as e:
                e.path.insert(0, f"[{key}]")
                raise
            if key in out:
                raise Malformed(f"duplicate key '{key}'")
            out[key] = value
        return out


STRING_DICT: Codec[dict[str, str]] = _StringDict()
STRINGS: Codec[list[str]] = ArrayOf(STRING)

E = TypeVar("E", bound=IntEnum)


class EnumOf(Codec[E]):
    """An ``IntEnum`` carried as its raw value (u8 or u16); unknown values are malformed."""

    def __init__(self, enum: type[E], base: Codec[int] = U8, what: str = "") -> None:
        self.enum = enum
        self.base = base
        self.min_size = base.min_size
        self.what = what or enum.__name__
        self._by_value = {m.value: m for m in enum}

    def write(self, w: Writer, v: E) -> None:
        self.base.write(w, int(v))

    def read(self, r: Reader) -> E:
        raw = self.base.read(r)
        member = self._by_value.get(raw)
        if member is None:
            raise Malformed(f"unknown {self.what} {raw}")
        return member


class _EncodeError(Exception):
    """Internal: a value could not be encoded; ``path`` names the field."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str] = []


class StructOf(Codec[T]):
    """A dataclass whose fields are written in order by their codecs."""

    def __init__(self, cls: type[T], fields: Sequence[tuple[str, Codec[Any]]]) -> None:
        self.cls = cls
        self.fields = list(fields)
        self.min_size = sum(c.min_size for _, c in self.fields)

    def write(self, w: Writer, v: T) -> None:
        for name, codec in self.fields:
            try:
                codec.write(w, getattr(v, name))
            except _EncodeError as e:
                e.path.insert(0, name)
                raise
            except (struct.error, TypeError, AttributeError, ValueError) as e:
                err = _EncodeError(str(e))
                err.path.append(name)
                raise err from None

    def read(self, r: Reader) -> T:
        values = []
        for name, codec in self.fields:
            try:
                values.append(codec.read(r))
            except Malformed as e:
                e.path.insert(0, name)
                raise
        return self.cls(*values)


def encode_fields(codec: Codec[T], value: T, w: Writer, what: str) -> None:
    """Writes ``value`` with ``codec``, turning bad values into :class:`InvalidRequest`."""
    try:
        codec.write(w, value)
    except _EncodeError as e:
        path = Malformed("")
        path.path = e.path
        raise InvalidRequest(f"cannot encode {what}: field '{path.field_path()}': {e.problem}") from None
