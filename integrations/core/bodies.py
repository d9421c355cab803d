"""Read a request body into JSON: content encodings, byte order marks, and numbers
that Python cannot hold. Pure functions, no I/O."""

from __future__ import annotations

import json
import math
import zlib

from ..exceptions import InvalidRequest, PayloadTooLarge
from .spec import MAX_REQUEST_BYTES
from .wire import JSON


def decode_body(raw: bytes, content_encoding: str | None) -> JSON:
    """Turn a request body into JSON.

    Handles ``Content-Encoding: gzip`` (and ``deflate``), refusing anything
    that inflates past MAX_REQUEST_BYTES. Raises PayloadTooLarge or
    InvalidRequest with a message a shop's developer can act on.
    """
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "gzip":
        raw = _inflate(raw, zlib.MAX_WBITS | 16)
    elif encoding == "deflate":
        raw = _inflate(raw, zlib.MAX_WBITS)
    elif encoding not in ("identity", ""):
        raise InvalidRequest(f"Content-Encoding {encoding!r} is not supported; use gzip.")
    if len(raw) > MAX_REQUEST_BYTES:
        raise PayloadTooLarge(f"The request is over {MAX_REQUEST_BYTES // 1024} KB.")
    # RFC 8259 section 8.1: a parser may ignore a byte order mark, which .NET
    # writers put before UTF-8 by default; json.detect_encoding also reads the
    # UTF-16 and UTF-32 that a BOM (or the pattern of NULs) announces.
    encoding = json.detect_encoding(raw)
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"The body is not valid {encoding} (byte {exc.start}).") from exc
    try:
        return json.loads(text, parse_float=_float, parse_int=_int, parse_constant=str)
    except RecursionError as exc:
        raise InvalidRequest("The body is nested too deeply.") from exc
    except ValueError as exc:
        raise InvalidRequest(f"The body is not valid JSON: {exc}.") from exc


def _inflate(raw: bytes, wbits: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(raw, MAX_REQUEST_BYTES + 1)
    except zlib.error as exc:
        raise InvalidRequest(f"The body is not valid gzip: {exc}.") from exc
    if len(out) > MAX_REQUEST_BYTES or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"The request is over {MAX_REQUEST_BYTES // 1024} KB once unzipped.")
    return out


def _float(text: str) -> float | str:
    """A JSON number as a float; one past a double's range stays as its text.

    So do Python's ``NaN`` and ``Infinity`` (``parse_constant=str``), which
    Python clients write for a float they were given, and an integer longer
    than Python converts (``_int``): the message is stored (no database holds
    a non-finite number), and the mapping leaves the value out with a
    warning, so one odd value never costs the batch.
    """
    value = float(text)
    return value if math.isfinite(value) else text


def _int(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:  # past sys.get_int_max_str_digits() (4300 digits)
        return text
