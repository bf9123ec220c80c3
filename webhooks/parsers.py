"""The webhook's DRF parser: the body is read, size-checked and decoded here, once.

DRF's JSONParser would recurse without limit (1,000 nested arrays raise RecursionError, a 500) and
hand the view a dict without the bytes the delivery log keeps and the dedupe key hashes; reading the
body again afterwards would be a second pass. This parser reads at most the size limit plus one byte
and returns both, decoded by webhooks.parsing.decode (the replay of a stored body uses it too).

A chunked body (`Transfer-Encoding: chunked`, no Content-Length: no buffering proxy in front) never
reaches a parser: Django reads no more than Content-Length, i.e. nothing, and DRF skips parsing.
`read_unframed` reads it from the server's own input when the server de-chunks it and marks the
stream as ending with the body (gunicorn sets `wsgi.input_terminated`), up to the same limit;
otherwise (Django's runserver) it answers 411 instead of "Empty body".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser

from .parsing import InvalidPayload, body_too_large, decode

log = logging.getLogger(__name__)


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


class LengthRequired(APIException):
    status_code = status.HTTP_411_LENGTH_REQUIRED
    default_code = "length_required"
    default_detail = (
        "A chunked body without Content-Length cannot be read by this server: send Content-Length, "
        "or serve the app through gunicorn or a proxy that buffers request bodies."
    )


@dataclass(frozen=True)
class JsonBody:
    raw: bytes
    payload: Any


class MonoJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None) -> JsonBody:
        limit = settings.WEBHOOK_MAX_BODY_BYTES
        request = (parser_context or {}).get("request")
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
        except ValueError:
            declared = 0
        if declared > limit:  # refused on the declared length, without reading the body
            raise BodyTooLarge(body_too_large(limit))
        return _decoded(stream.read(limit + 1))  # one byte over is enough for decode() to refuse it


def read_unframed(request) -> JsonBody | None:
    """The body of a request without Content-Length, or None when it did not say it has one."""
    meta = request.META
    if "chunked" not in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    if not meta.get("wsgi.input_terminated"):  # the stream would not end with the body: unreadable
        log.warning("webhook refused: chunked body on a server that cannot read it")
        raise LengthRequired()
    return _decoded(meta["wsgi.input"].read(settings.WEBHOOK_MAX_BODY_BYTES + 1))


def _decoded(raw: bytes) -> JsonBody:
    try:
        return JsonBody(raw=raw, payload=decode(raw))
    except InvalidPayload as exc:
        log.warning("webhook refused: %s", exc)
        raise (BodyTooLarge if exc.too_large else ParseError)(str(exc)) from None
