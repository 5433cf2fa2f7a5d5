"""moto's request dispatch, with the work it repeated on every request done once or skipped.

Every AWS request passes moto's ``DomainDispatcherApplication`` (which of moto's Flask apps serves
it), that Flask app (a request context, URL routing, the response object, CORS headers) and
``BaseResponse.call_action`` (which handler method answers it). A profile of one client's put_item
loop found more than a third of the server's time there, most of it work whose outcome is the same
for every request. The answers are the same as moto's own path gives: the work is remembered, or
not done where it cannot change them.

| moto code | what it did per request | here |
|---|---|---|
| ``DomainDispatcherApplication.get_backend_for_host`` | listed moto's package folder (``os.listdir``, then ``isdir`` for each of its ~200 entries) to tell whether the host names a service, then matched URL patterns | ``Dispatcher`` (a subclass, the server's) remembers each host's backend; a host without one is asked again each time, as before |
| ``moto.core.responses.method_names_from_class`` | ``inspect.getmembers`` over the handler class, to tell whether the action is one of its methods | the names of each class's methods, collected at its first request: every extension adds its methods (``global_table_api.add_operations``, the backup extension) at install, before the server takes a request |
| the Flask app of DynamoDB and of DynamoDB Streams (``Flask.wsgi_app``; the view ``convert_to_flask_response.__call__``) | pushed a request and an application context, bound and matched the URL map, ran the view, built the response, ran the after-request functions (flask-cors) | ``DirectLane``: for a POST to ``/`` (the app's only route) without CORS request headers, the view's steps without the contexts, and the headers the after-request functions add to such a request (found once per app by running them); an exception goes through Flask's own error handling in a request context, as before |

The direct lane takes only the requests whose answer Flask's path could not change: one route, the
methods it allows, no ``Origin`` or private-network header (the only inputs of flask-cors besides
the path), no view that reads Flask's context (moto's DynamoDB handlers do not). ``missing_hooks``
names anything relied on that a moto or Flask upgrade moved; start-up fails then.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable
from typing import Any

import flask
import moto.core.responses as moto_responses
from botocore.exceptions import ClientError
from flask import Flask
from moto.core.utils import convert_to_flask_response
from moto.moto_api import recorder
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from globaltables.local import pinning

# Hosts come from requests (a service and a region), so their number is bounded by what callers send;
# past this many, a host's backend is looked up as moto does, not remembered.
MAX_HOSTS = 4096
# moto backends (``Flask.service``) whose app the direct lane serves: the data plane of the runbook.
DIRECT_SERVICES = frozenset({"dynamodb", "dynamodbstreams"})
# Request headers flask-cors reads besides the path: a request carrying one goes through Flask.
CORS_REQUEST_HEADERS = ("HTTP_ORIGIN", "HTTP_ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK")
# What of the environ goes into a request's URL (werkzeug's ``Request.url_root`` and moto's ``raw_url``).
_URL_ENVIRON = (
    "wsgi.url_scheme",
    "HTTP_HOST",
    "SERVER_NAME",
    "SERVER_PORT",
    "SCRIPT_NAME",
    "PATH_INFO",
    "RAW_URI",
    "QUERY_STRING",
    "HTTP_X_FORWARDED_HOST",
)
# Headers every response has, not added by the after-request functions.
_RESPONSE_OWN_HEADERS = frozenset({"content-type", "content-length"})

HOOKS: list[tuple[Any, str]] = [
    (DomainDispatcherApplication, "get_backend_for_host"),
    (DomainDispatcherApplication, "get_application"),
    (moto_responses, "method_names_from_class"),
    (convert_to_flask_response, "__call__"),
    (type(recorder), "_record_request"),
    (Flask, "request_context"),
    (Flask, "handle_user_exception"),
    (Flask, "handle_exception"),
    (Flask, "finalize_request"),
    (Flask, "process_response"),
]


def missing_hooks() -> list[str]:
    return pinning.absent(HOOKS)


WSGIResult = Iterable[bytes]


class DirectLane:
    """One of moto's Flask apps answered without Flask's per-request machinery (module docstring).

    ``view`` is the app's only view, a ``convert_to_flask_response``; ``added_headers`` are what the
    app's after-request functions add to a POST to ``/`` without CORS request headers."""

    def __init__(self, app: Flask, view: convert_to_flask_response, added_headers: list[tuple[str, str]]):
        self.app = app
        self.handler = view.callback
        self.added_headers = added_headers
        self._raw_urls: dict[tuple[Any, ...], str] = {}

    @classmethod
    def of(cls, app: Flask) -> DirectLane | None:
        """The lane for ``app``, or None when its requests must go through Flask."""
        if getattr(app, "service", None) not in DIRECT_SERVICES:
            return None
        rules = list(app.url_map.iter_rules())
        if len(rules) != 1 or rules[0].rule != "/" or "POST" not in (rules[0].methods or ()):
            return None
        view = app.view_functions.get(rules[0].endpoint)
        if not isinstance(view, convert_to_flask_response):
            return None
        with app.test_request_context("/", method="POST"):
            probe = app.process_response(app.response_class())
        added = [(name, value) for name, value in probe.headers.items() if name.lower() not in _RESPONSE_OWN_HEADERS]
        return cls(app, view, added)

    def raw_url(self, request: Any) -> str:
        """``request.raw_url``, remembered per host: werkzeug rebuilds it from the environ (IRI-decoding
        the host) at every read, and for a POST to ``/`` nothing else in the environ goes into it."""
        environ = request.environ
        key = tuple(environ.get(name) for name in _URL_ENVIRON)
        url = self._raw_urls.get(key)
        if url is None:
            url = request.raw_url
            if len(self._raw_urls) < MAX_HOSTS:
                self._raw_urls[key] = url
        return url

    @staticmethod
    def takes(environ: dict[str, Any]) -> bool:
        return (
            environ.get("REQUEST_METHOD") == "POST"
            and environ.get("PATH_INFO") == "/"
            and not any(name in environ for name in CORS_REQUEST_HEADERS)
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> WSGIResult:
        try:
            # convert_to_flask_response.__call__'s steps, with the request made from the environ as
            # Flask makes it (the app's request class) instead of read from Flask's context.
            request = self.app.request_class(environ)
            try:
                recorder._record_request(request)
                result = self.handler(request, self.raw_url(request), dict(request.headers))
            except ClientError as exc:
                result = 400, {}, exc.response["Error"]["Message"]
            if len(result) == 3:
                status, headers, content = result
            else:
                status, headers, content = 200, {}, result
            response = flask.Response(response=content, status=status, headers=headers)
        except Exception as error:
            return self._through_flask(error, environ, start_response)
        for name, value in self.added_headers:
            response.headers.add(name, value)
        return response(environ, start_response)

    def _through_flask(
        self, error: Exception, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> WSGIResult:
        """What ``Flask.wsgi_app`` does with an exception from the view: the app's error handling
        (an HTTPException becomes its response; anything else propagates, the app being in debug mode)."""
        context = self.app.request_context(environ)
        raised: BaseException | None = None
        try:
            context.push()
            try:
                response = self.app.finalize_request(self.app.handle_user_exception(error))
            except Exception as again:
                raised = again
                response = self.app.handle_exception(again)
            return response(environ, start_response)
        finally:
            context.pop(raised)


class Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher, remembering which backend serves a host, and answering DynamoDB's data plane
    through a ``DirectLane`` (see the module docstring). ``direct=False``: every request through Flask."""

    def __init__(self, create_app: Callable[..., Any], direct: bool = True):
        super().__init__(create_app)
        self.direct = direct
        self._backends: dict[str | None, Any] = {}
        self._lanes: dict[int, DirectLane | None] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        backend = self._backends.get(host)
        if backend is None:
            backend = super().get_backend_for_host(host)
            # None (no backend) is not remembered: moto says so on stdout each time, as before.
            if backend is not None and len(self._backends) < MAX_HOSTS:
                self._backends[host] = backend
        return backend

    def lane(self, app: Flask) -> DirectLane | None:
        key = id(app)  # apps live as long as the dispatcher (``app_instances``)
        if key not in self._lanes:
            with self.lock:
                if key not in self._lanes:
                    self._lanes[key] = DirectLane.of(app) if self.direct else None
        return self._lanes[key]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> WSGIResult:
        app = self.get_application(environ)
        lane = self.lane(app)
        if lane is not None and lane.takes(environ):
            return lane(environ, start_response)
        return app(environ, start_response)


def remembered_method_names(original: Callable[[Any], list[str]]) -> Callable[[Any], frozenset[str]]:
    """``method_names_from_class`` answered once per class (its only caller asks ``action in names``)."""
    names: dict[type, frozenset[str]] = {}
    lock = threading.Lock()

    @functools.wraps(original)
    def method_names_from_class(clazz: Any) -> frozenset[str]:
        found = names.get(clazz)
        if found is None:
            with lock:
                found = names.setdefault(clazz, frozenset(original(clazz)))
        return found

    method_names_from_class.__globaltables_hook__ = True  # type: ignore[attr-defined]
    return method_names_from_class


def install() -> None:
    """Remember handler method names (idempotent); the server uses ``Dispatcher`` in place of moto's own.
    ``extensions.check_hooks`` has checked ``missing_hooks`` first."""
    original = moto_responses.method_names_from_class
    if getattr(original, "__globaltables_hook__", False):
        return
    moto_responses.method_names_from_class = remembered_method_names(original)  # type: ignore[assignment]
