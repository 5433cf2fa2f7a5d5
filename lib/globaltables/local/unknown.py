"""What the embedded AWS answers to requests no service of it can handle: AWS's refusal, never a 500.

moto answers an operation it does not implement with an HTTP 500 (its Flask app runs in debug mode,
so the ``NotImplementedError`` reaches the server), and a request signed for a region that does not
exist with another 500 (``KeyError`` in its per-region backends). An SDK retries a 500: botocore nine
times in standard mode with ``max_attempts`` 10, backing off for tens of seconds, before it gives up
with a message that names no cause. On AWS both fail at once with a 4xx, so this middleware, between
the fault switches and moto's dispatcher, answers as AWS does (wording in ``replication.errors``):

| request | answer |
|---|---|
| signed for a region in no AWS partition | ``InvalidSignatureException`` (JSON, 400) / ``SignatureDoesNotMatch`` (query, 403) |
| an operation moto does not implement, or one no SDK knows | ``UnknownOperationException`` (JSON, 400) / ``InvalidAction`` (query, 400) |
| an operation moto implements but not with these parameters | ``NotImplemented`` (501, not retried) |

The protocol is read from the request: ``X-Amz-Target`` is a JSON protocol, an ``Action`` in the
query or a form body a query protocol (EC2 with its own error envelope), anything else a REST
protocol (XML for S3, Route 53 and CloudFront, JSON otherwise).
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import botocore.session
import moto
from botocore.model import OperationNotFoundError

from globaltables.local.faults import request_region
from globaltables.local.replication import errors

# moto.core.responses.BaseResponse.call_action: f"The {action} action has not been implemented"
_MOTO_UNIMPLEMENTED = re.compile(r"^The (\w+) action has not been implemented$")
_CREDENTIAL_SERVICE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([a-z0-9-]+)/")
_REST_XML_SERVICES = {"s3", "route53", "cloudfront"}

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region of every AWS partition botocore knows (and the partitions' global pseudo-regions)."""
    loader = botocore.session.get_session().get_component("data_loader")
    regions: set[str] = set()
    for partition in loader.load_data("partitions")["partitions"]:
        regions.update(partition.get("regions", {}))
    for partition in loader.load_data("endpoints")["partitions"]:
        regions.update(partition.get("regions", {}))
    return frozenset(regions)


def _camel(snake: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_"))


class UnknownRequests:
    """WSGI middleware in front of moto's dispatcher; see the module docstring."""

    def __init__(self, app: WSGIApp):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        region = request_region(environ)
        if region and region not in known_regions():
            return self._answer(environ, start_response, errors.CredentialRegionInvalid(region=region))
        try:
            return self.app(environ, start_response)
        except OperationNotFoundError as error:
            # An operation no SDK model has: moto fails while parsing its parameters.
            return self._answer(environ, start_response, self._unknown(environ, str(error).strip("'\"")))
        except NotImplementedError as error:
            matched = _MOTO_UNIMPLEMENTED.match(str(error))
            if matched:
                answer: errors.WireError = self._unknown(environ, _camel(matched.group(1)))
            else:
                answer = errors.FeatureNotImplemented(
                    moto_version=moto.__version__,
                    service=self._service(environ),
                    operation=self._operation(environ) or "",
                    detail=str(error) or type(error).__name__,
                )
            return self._answer(environ, start_response, answer)

    def _unknown(self, environ: dict[str, Any], operation: str | None) -> errors.UnknownOperation:
        return errors.UnknownOperation(
            moto_version=moto.__version__,
            service=self._service(environ),
            operation=self._operation(environ) or operation or "this operation",
        )

    @staticmethod
    def _service(environ: dict[str, Any]) -> str:
        match = _CREDENTIAL_SERVICE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if match:
            return match.group(1)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        return target.split(".", 1)[0] if target else "AWS"

    @staticmethod
    def _operation(environ: dict[str, Any]) -> str | None:
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            return target.rsplit(".", 1)[-1]
        return _query_action(environ)

    def _answer(
        self, environ: dict[str, Any], start_response: Callable[..., Any], answer: errors.WireError
    ) -> Iterable[bytes]:
        protocol = _protocol(environ)
        code, status, message = answer.code(protocol), answer.status(protocol), answer.message(protocol)
        request_id = str(uuid.uuid4())
        service = self._service(environ)
        if protocol == "json":
            content_type = environ.get("CONTENT_TYPE") or ""
            if not content_type.startswith("application/x-amz-json"):
                content_type = "application/x-amz-json-1.0"
            # AWS's generic (not service-specific) errors come from its request layer, "coral".
            body = json.dumps({"__type": f"com.amazon.coral.service#{code}", "message": message}).encode()
        elif protocol == "query" and service == "ec2":
            content_type = "text/xml"
            body = (
                f"<?xml version='1.0' encoding='UTF-8'?>\n<Response><Errors><Error><Code>{code}</Code>"
                f"<Message>{escape(message)}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
            ).encode()
        elif protocol == "query":
            content_type = "text/xml"
            body = (
                f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{escape(message)}</Message>"
                f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            ).encode()
        elif service in _REST_XML_SERVICES:
            content_type = "application/xml"
            body = (
                f"<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>{code}</Code><Message>{escape(message)}"
                f"</Message><RequestId>{request_id}</RequestId></Error>"
            ).encode()
        else:
            content_type = "application/json"
            body = json.dumps({"message": message}).encode()
        reason = {400: "Bad Request", 403: "Forbidden", 501: "Not Implemented"}.get(status, "Error")
        start_response(
            f"{status} {reason}",
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(body))),
                ("x-amzn-RequestId", request_id),
                ("x-amzn-ErrorType", code),
            ],
        )
        return [body]


def _protocol(environ: dict[str, Any]) -> str:
    if environ.get("HTTP_X_AMZ_TARGET"):
        return "json"
    # Query-protocol SDKs POST a form; no JSON or REST SDK does.
    if _query_action(environ) or (environ.get("CONTENT_TYPE") or "").startswith("application/x-www-form-urlencoded"):
        return "query"
    return "rest"


def _query_action(environ: dict[str, Any]) -> str | None:
    """The ``Action`` in the query string (a form body has been read by moto by the time it fails)."""
    action = parse_qs(environ.get("QUERY_STRING", "")).get("Action")
    return action[0] if action else None
