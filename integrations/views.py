"""The ingestion endpoint: Segment's HTTP Tracking API, parsed and authenticated.

It parses and authenticates, then hands the messages to ``ingest``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .auth import check_key, key_from_header
from .bodies import decode_body
from .exceptions import InvalidMessage, InvalidRequest, PayloadTooLarge, Unauthorized
from .ingest import ingest
from .spec import MAX_REQUEST_BYTES, SHORT_PATHS, split_batch

logger = logging.getLogger(__name__)

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Content-Encoding",
    "Access-Control-Max-Age": "86400",
}


def _answer(status: int, body: dict[str, Any]) -> JsonResponse:
    response = JsonResponse(body, status=status)
    for header, value in CORS.items():
        response[header] = value
    return response


def _error(status: int, code: str, message: str, **extra: Any) -> JsonResponse:
    return _answer(status, {"success": False, "code": code, "message": message, **extra})


def _invalid(error: InvalidMessage) -> JsonResponse:
    status = 413 if isinstance(error, PayloadTooLarge) else 400
    extra = {"field": error.field} if error.field else {}
    return _error(status, error.code, str(error), **extra)


@csrf_exempt
def track_api(request: HttpRequest, call: str) -> HttpResponse:
    """POST /v1/<call>: store a message or a batch; answer as Segment's API does."""
    if request.method == "OPTIONS":
        response = HttpResponse(status=204)
        for header, value in CORS.items():
            response[header] = value
        return response
    if request.method != "POST":
        return _error(405, "method_not_allowed", "Use POST.")
    call = SHORT_PATHS.get(call, call)
    try:
        header_key = key_from_header(request.headers.get("Authorization"))
        if header_key is not None:
            check_key(header_key)
        body = decode_body(_read(request), request.headers.get("Content-Encoding"))
        if not isinstance(body, dict):
            raise InvalidRequest("The body must be a JSON object.")
        if header_key is None:
            check_key(body.get("writeKey"))
        if call == "batch":
            messages, shared = split_batch(body)
            call_type = None
        else:
            messages, shared, call_type = [body], {}, call
        result = ingest([_without_key(m) for m in messages], call_type, shared)
    except Unauthorized as error:
        return _error(401, error.code, str(error))
    except InvalidMessage as error:
        return _invalid(error)
    except DatabaseError:
        logger.exception("Could not store the request; answered 503 so the client retries.")
        response = _error(503, "unavailable", "Storage is unavailable; retry later.")
        response["Retry-After"] = "5"
        return response
    if call != "batch" and result.errors:
        return _invalid(result.errors[0][1])
    errors = [
        {"index": index, "code": error.code, "message": str(error), "field": error.field}
        for index, error in result.errors
    ]
    if errors and not (result.stored or result.duplicates):
        return _error(
            400, "invalid_batch", "No message in the batch could be stored.", errors=errors
        )
    body_out: dict[str, Any] = {"success": True}
    if errors:
        body_out["errors"] = errors
    return _answer(200, body_out)


def _read(request: HttpRequest) -> bytes:
    """The raw body, refused as soon as it is over Segment's limit.

    A body sent chunked has no Content-Length, so Django reads it as empty; it is
    read from the server's own stream instead when the server has dechunked it and
    ends that stream with the body (``wsgi.input_terminated``, as gunicorn does).
    Raises PayloadTooLarge past MAX_REQUEST_BYTES, InvalidRequest when the body
    cannot be read.
    """
    too_large = PayloadTooLarge(f"The request is over {MAX_REQUEST_BYTES // 1024} KB.")
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        raise InvalidRequest("Content-Length is not a number.") from None
    if length > MAX_REQUEST_BYTES:
        raise too_large
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if chunked and request.META.get("wsgi.input_terminated"):
        body = _read_to_end(request.META["wsgi.input"], MAX_REQUEST_BYTES)
    else:
        try:
            body = request.body
        except RequestDataTooBig:
            raise too_large from None
    if len(body) > MAX_REQUEST_BYTES:
        raise too_large
    return body


def _read_to_end(stream: Any, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of a stream that ends where the body does."""
    body = bytearray()
    try:
        while len(body) <= limit and (data := stream.read(limit + 1 - len(body))):
            body += data
    except Exception as error:
        # Each server raises its own error on malformed framing or a body cut
        # short (gunicorn's are not OSErrors); all mean the body is unreadable.
        raise InvalidRequest("The chunked body is malformed or was cut short.") from error
    return bytes(body)


def _without_key(message: Any) -> Any:
    """The message without its writeKey: a secret is never stored."""
    if isinstance(message, dict) and "writeKey" in message:
        return {key: value for key, value in message.items() if key != "writeKey"}
    return message
