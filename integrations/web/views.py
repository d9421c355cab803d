"""The ingestion endpoint: Segment's HTTP Tracking API, parsed and authenticated.

It parses and authenticates, then hands the messages to ``ingest``. A browser
key (SEG_BROWSER_WRITE_KEYS) is public: it may not send alias, and each client
address is rate-limited (``limiter``).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from ..core import MAX_REQUEST_BYTES, SHORT_PATHS, decode_body, split_batch
from ..exceptions import InvalidRequest, PayloadTooLarge, Refused
from ..ingest import Result, ingest
from ..models import Source
from . import limiter
from .auth import KeyKind, check_key, key_from_header, website_of
from .cors import cors

logger = logging.getLogger(__name__)

# Segment's docs keep alias for "your server": with a public key anyone could
# move a customer's email to an address of their own.
ALIAS_REFUSED = (
    "alias is refused with a browser key (SEG_BROWSER_WRITE_KEYS): anyone can read that "
    "key from the page, and an alias moves a customer to another email. Send alias from "
    "the server, with a key of SEG_WRITE_KEYS."
)


def _error(status: int, code: str, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse(
        {"success": False, "code": code, "message": message, **extra}, status=status
    )


def _refused(error: Refused) -> JsonResponse:
    """The answer ``error``'s class decides: its status and code, and the field at fault."""
    extra = {"field": error.field} if error.field else {}
    return _error(error.status, error.code, str(error), **extra)


# The endpoint makes its own transactions (ingest), even in a shop with
# ATOMIC_REQUESTS: a write that lost a race to another request is then tried again.
@transaction.non_atomic_requests
@csrf_exempt
@cors("POST")
def track_api(request: HttpRequest, call: str) -> HttpResponse:
    """POST /v1/<call>: store a message or a batch; answer as Segment's API does.

    With a browser key: an alias gets 403 and is not stored; in a batch each
    alias is listed as refused (code ``forbidden``) and the rest are stored.
    Every request with a browser key is charged to its client address, at
    least one message and else one a message, refused ones included, whatever
    its answer: its share up front (before the body is read when the key is in
    the header), the rest once its messages are counted. Past the limit: 429
    with ``Retry-After``. Only a request with no valid key is not charged.
    """
    if request.method != "POST":
        return _error(405, "method_not_allowed", "Use POST.")
    call = SHORT_PATHS.get(call, call)
    paid = 0
    try:
        header_key = key_from_header(request.headers.get("Authorization"))
        kind = check_key(header_key) if header_key is not None else None
        if kind is KeyKind.BROWSER:
            if limited := _limit(request, 1):
                return limited
            paid = 1
        body = decode_body(_read(request), request.headers.get("Content-Encoding"))
        if not isinstance(body, dict):
            raise InvalidRequest("The body must be a JSON object.")
        if kind is None:
            header_key = body.get("writeKey")
            kind = check_key(header_key)
            if kind is KeyKind.BROWSER:
                if limited := _limit(request, 1):
                    return limited
                paid = 1
        sent_at = None
        if call == "batch":
            messages, shared = split_batch(body)
            call_type, sent_at = None, body.get("sentAt")
        else:
            messages, shared, call_type = [body], {}, call
        refused: list[int] = []
        if kind is KeyKind.BROWSER:
            if limited := _limit(request, len(messages), paid):
                return limited
            refused = [i for i, m in enumerate(messages) if _is_alias(m, call_type)]
            if refused and call != "batch":
                return _error(403, "forbidden", ALIAS_REFUSED)
        kept = sorted(set(range(len(messages))) - set(refused))
        source = Source.BROWSER if kind is KeyKind.BROWSER else Source.SERVER
        result = ingest(
            [_without_key(messages[i]) for i in kept],
            call_type,
            shared,
            source=source,
            sent_at=sent_at if isinstance(sent_at, str) else None,
            website=website_of(request, str(header_key)),
        )
    except Refused as error:
        return _refused(error)
    except DatabaseError:
        logger.exception("Could not store the request; answered 503 so the client retries.")
        response = _error(503, "unavailable", "Storage is unavailable; retry later.")
        response["Retry-After"] = "5"
        return response
    if call != "batch" and result.errors:
        return _refused(result.errors[0][1])
    return _batch_answer(result, kept, refused)


@csrf_exempt
@cors("GET", "POST")
def not_found(request: HttpRequest) -> HttpResponse:
    """Any path under the mount that is no endpoint: 404 as JSON, as Segment's API answers."""
    return _error(404, "not_found", f"No endpoint at {request.path}.")


def _batch_answer(result: Result, kept: list[int], refused: list[int]) -> JsonResponse:
    """200 listing each bad or refused message by its index in the request; 400 or 403
    when none was stored."""
    errors = [
        {"index": kept[i], "code": error.code, "message": str(error), "field": error.field}
        for i, error in result.errors
    ] + [
        {"index": i, "code": "forbidden", "message": ALIAS_REFUSED, "field": "type"}
        for i in refused
    ]
    errors.sort(key=lambda error: int(error["index"] or 0))
    if errors and not (result.stored or result.duplicates):
        if refused and not result.errors:
            return _error(403, "forbidden", ALIAS_REFUSED, errors=errors)
        return _error(
            400, "invalid_batch", "No message in the batch could be stored.", errors=errors
        )
    body_out: dict[str, Any] = {"success": True}
    if errors:
        body_out["errors"] = errors
    return JsonResponse(body_out)


def _is_alias(message: Any, call_type: str | None) -> bool:
    kind = call_type or (message.get("type") if isinstance(message, dict) else None)
    return kind == "alias"


def _limit(request: HttpRequest, messages: int, paid: int = 0) -> JsonResponse | None:
    """None when the client address may send a request of ``messages``, of which ``paid``
    were charged already; else the 429. Raises PayloadTooLarge past what one bucket holds."""
    wait = limiter.charge(limiter.client_address(request), messages, paid)
    if wait is None:
        return None
    response = _error(429, "rate_limited", "Too many messages from this address; retry later.")
    response["Retry-After"] = limiter.retry_after(wait)
    return response


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
