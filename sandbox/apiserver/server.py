"""The HTTP face of the emulator: routing, content negotiation, watches, Status errors."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from sandbox.apiserver import discovery, openapi
from sandbox.apiserver.api import APPLY, JSON_PATCH, MERGE, STRATEGIC, Api
from sandbox.apiserver.controllers import Controllers
from sandbox.apiserver.errors import ApiError, bad_request, failure_status, unsupported_media
from sandbox.apiserver.faults import Faults
from sandbox.apiserver.metrics import RequestCounter
from sandbox.apiserver.resources import Registry, ResourceType
from sandbox.apiserver.selectors import label_predicate
from sandbox.apiserver.store import Event, Store
from sandbox.apiserver.table import to_table

try:  # protobuf request bodies are decoded by their own module.
    protobuf: Any = importlib.import_module("sandbox.apiserver.protobuf")
except ImportError:  # pragma: no cover - only while that module is absent
    protobuf = None

log = logging.getLogger(__name__)
PROTOBUF = "application/vnd.kubernetes.protobuf"
JSON = "application/json"
PATCH_TYPES = (MERGE, JSON_PATCH, STRATEGIC)
READABLE = f"{JSON}, application/yaml, {PROTOBUF}"
_SUBRESOURCES = ("status", "scale", "finalize")


@dataclass
class Target:
    """What a resource URL names."""

    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None
    watch_path: bool  # the legacy /watch/ prefix


def _summary(data: bytes, limit: int = 30) -> str:
    """The start of a body the server could not decode, as kube-apiserver's summarizeData shows it."""
    if not data:
        return "<empty>"
    if data[:1] == b"{":
        text = data.decode(errors="replace")
        return text[:limit] + " ..." if len(data) > limit else text
    return data[:limit].hex() + " ..." if len(data) > limit else data.hex()


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "")


class ApiServer:
    """One emulated cluster: store, registry, built-in controllers and the aiohttp application."""

    def __init__(self, history: int = 1000, bookmark_interval: float = 10.0) -> None:
        self.store = Store(history)
        self.registry = Registry()
        self.api = Api(self.store, self.registry)
        self.faults = Faults()
        self.requests = RequestCounter()
        self.bookmark_interval = bookmark_interval
        self.address = "127.0.0.1:0"
        self._runner: web.AppRunner | None = None
        self._controllers: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.faults.attach(self._drop_watches)

    # --- lifecycle -------------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application (one catch-all route; Kubernetes paths are parsed here)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (0 picks a free port); returns the bound port."""
        self._loop = asyncio.get_running_loop()
        self._controllers = asyncio.create_task(Controllers(self.api).run())
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        bound = int(sockets[0].getsockname()[1]) if sockets else port
        self.address = f"{host}:{bound}"
        return bound

    async def stop(self) -> None:
        """Close watches, stop listening, stop the controllers."""
        self.store.close_watches()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._controllers is not None:
            self._controllers.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._controllers

    def _drop_watches(self) -> int:
        loop = self._loop
        if loop is None:
            return 0
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            return self.store.close_watches()
        return asyncio.run_coroutine_threadsafe(self._close_watches(), loop).result(5)

    async def _close_watches(self) -> int:
        return self.store.close_watches()

    # --- dispatch --------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            if self.faults.delay:
                await asyncio.sleep(self.faults.delay)
            return await self._dispatch(request)
        except ApiError as err:
            return self._status(err)
        except Exception as err:
            log.exception("internal error serving %s %s", request.method, request.path_qs)
            return self._status(ApiError(500, f"Internal error occurred: {err}", reason="InternalError"))

    def _status(self, err: ApiError) -> web.Response:
        return web.json_response(err.status(), status=err.code, headers=err.headers)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        parts = [p for p in path.split("/") if p]
        if path in ("/healthz", "/livez", "/readyz"):
            return web.Response(text="ok")
        if path == "/metrics":
            return web.Response(text=self.requests.exposition(), content_type="text/plain")
        if path == "/version":
            return web.json_response(discovery.VERSION)
        if path == "/openapi/v3":
            return web.json_response(openapi.root(self.registry))
        if path.startswith("/openapi/v3/"):
            rest = parts[2:]
            gv = (
                ("", rest[1])
                if rest[:1] == ["api"] and len(rest) == 2
                else ((rest[1], rest[2]) if rest[:1] == ["apis"] and len(rest) == 3 else None)
            )
            doc = openapi.group_version(self.registry, *gv) if gv else None
            if doc is None:
                raise ApiError(404, "the server could not find the requested resource", details={})
            return web.json_response(doc)
        if path.startswith("/openapi/"):
            # No OpenAPI v2 document: kubectl uses v3 and its compiled-in patch metadata.
            raise ApiError(404, "the server could not find the requested resource", details={})
        if parts[:1] == ["api"]:
            if len(parts) == 1:
                return web.json_response(discovery.api_versions(self.address))
            if parts[1] != "v1":
                raise ApiError(404, "the server could not find the requested resource", details={})
            if len(parts) == 2:
                return web.json_response(discovery.resource_list(self.registry, "", "v1"))
            return await self._resource(request, "", "v1", parts[2:])
        if parts[:1] == ["apis"]:
            if len(parts) == 1:
                return web.json_response(discovery.api_group_list(self.registry))
            if len(parts) == 2:
                group_doc = discovery.api_group(self.registry, parts[1])
                if group_doc is None:
                    raise ApiError(404, "the server could not find the requested resource", details={})
                return web.json_response(group_doc)
            if len(parts) == 3:
                doc = discovery.resource_list(self.registry, parts[1], parts[2])
                if doc is None:
                    raise ApiError(404, "the server could not find the requested resource", details={})
                return web.json_response(doc)
            return await self._resource(request, parts[1], parts[2], parts[3:])
        raise ApiError(404, "the server could not find the requested resource", details={})

    def _target(self, group: str, version: str, parts: list[str]) -> Target:
        watch_path = parts[:1] == ["watch"]
        if watch_path:
            parts = parts[1:]
        namespace = None
        if len(parts) >= 3 and parts[0] == "namespaces" and parts[2] not in _SUBRESOURCES:
            namespace, parts = parts[1], parts[2:]
        if not parts or len(parts) > 3:
            raise ApiError(404, "the server could not find the requested resource", details={})
        rt = self.api.type(group, version, parts[0])
        name = parts[1] if len(parts) > 1 else None
        sub = parts[2] if len(parts) > 2 else None
        if sub is not None and not (
            (sub == "status" and rt.status_subresource)
            or (sub == "scale" and rt.scale_subresource)
            or (sub == "finalize" and rt.kind == "Namespace")
        ):
            raise ApiError(404, "the server could not find the requested resource", details={})
        if namespace is not None and not rt.namespaced:
            raise ApiError(404, "the server could not find the requested resource", details={})
        return Target(rt, namespace, name, sub, watch_path)

    @staticmethod
    def _verb(method: str, target: Target, watch: bool) -> str:
        if method == "GET":
            if watch:
                return "watch"
            return "get" if target.name else "list"
        if method == "POST":
            return "create"
        if method == "PUT":
            return "update"
        if method == "PATCH":
            return "patch"
        if method == "DELETE":
            return "delete" if target.name else "deletecollection"
        return method.lower()

    async def _resource(
        self, request: web.Request, group: str, version: str, parts: list[str]
    ) -> web.StreamResponse:
        target = self._target(group, version, parts)
        q = request.query
        watch = target.watch_path or ("watch" in q and _truthy(q.get("watch")))
        verb = self._verb(request.method, target, watch)
        # kube-apiserver's metrics.CleanScope: a create counts as "resource" scope, as a named request
        named = target.name or verb == "create"
        scope = "resource" if named else ("namespace" if target.namespace else "cluster")
        code = 500
        try:
            response = await self._serve(request, target, verb)
            code = response.status
            return response
        except ApiError as err:
            code = err.code
            raise
        finally:
            self.requests.count(
                verb, group, version, target.rt.plural, subresource=target.subresource, scope=scope, code=code
            )

    async def _serve(self, request: web.Request, target: Target, verb: str) -> web.StreamResponse:
        q = request.query
        resource = target.rt.plural + (f"/{target.subresource}" if target.subresource else "")
        injected = self.faults.pick(verb, resource)
        if injected is not None:
            raise injected
        rt, ns, name, sub = target.rt, target.namespace, target.name, target.subresource
        dry_run = q.get("dryRun") == "All"
        strict = q.get("fieldValidation", "Warn")
        api = self.api
        if verb == "watch":
            return await self._watch(request, target)
        if verb == "list":
            result = api.list_objects(
                rt,
                ns,
                label_selector=q.get("labelSelector"),
                field_selector=q.get("fieldSelector"),
                limit=int(q.get("limit") or 0),
                cont=q.get("continue"),
            )
            return self._answer(request, rt, result, listing=True)
        if verb == "get":
            assert name is not None
            if sub == "scale":
                return web.json_response(api.get_scale(rt, ns, name))
            return self._answer(request, rt, api.get(rt, ns, name))
        if verb == "create":
            if name is not None:
                raise ApiError(
                    405,
                    f"the server does not allow this method on the requested resource "
                    f"({request.method} {request.path})",
                    reason="MethodNotAllowed",
                )
            body = await self._body(request, rt.kind)
            return self._answer(request, rt, api.create(rt, ns, body, dry_run, strict), status=201)
        assert name is not None or verb == "deletecollection"
        if verb == "update":
            assert name is not None
            body = await self._body(request, rt.kind)
            if sub == "scale":
                return web.json_response(api.update_scale(rt, ns, name, body))
            return self._answer(
                request,
                rt,
                api.replace(
                    rt,
                    ns,
                    name,
                    body,
                    subresource=self._write_sub(sub),
                    dry_run=dry_run,
                    field_validation=strict,
                ),
            )
        if verb == "patch":
            assert name is not None
            ctype = self._content_type(request)
            if ctype == APPLY:
                api.apply_patch(rt, {}, APPLY, None)  # raises the 415 explaining the limitation
            if ctype not in PATCH_TYPES and rt.custom:
                api.apply_patch(rt, {}, STRATEGIC, None)  # raises the 415 listing what custom resources take
            if ctype not in PATCH_TYPES:  # refused by the route itself (go-restful), as kube-apiserver does
                raise unsupported_media("415: Unsupported Media Type")
            body = await self._body(request, rt.kind, as_json=True)
            if sub == "scale":
                return web.json_response(api.update_scale(rt, ns, name, body, ctype))
            return self._answer(
                request,
                rt,
                api.patch(
                    rt,
                    ns,
                    name,
                    ctype,
                    body,
                    subresource=self._write_sub(sub),
                    dry_run=dry_run,
                    field_validation=strict,
                ),
            )
        if verb == "delete":
            assert name is not None
            options = self._delete_options(q, await self._body(request, "DeleteOptions"))
            return self._answer(request, rt, api.delete(rt, ns, name, options, dry_run))
        if verb == "deletecollection":
            options = self._delete_options(q, await self._body(request, "DeleteOptions"))
            result = api.delete_collection(rt, ns, q.get("labelSelector"), q.get("fieldSelector"), options)
            return self._answer(request, rt, result, listing=True)
        raise ApiError(
            405,
            f"the server does not allow this method on the requested resource ({request.method})",
            reason="MethodNotAllowed",
        )

    @staticmethod
    def _write_sub(sub: str | None) -> str | None:
        # Namespace /finalize writes spec.finalizers; treat it as a main-resource write.
        return "status" if sub == "status" else None

    @staticmethod
    def _delete_options(q: Any, body: Any) -> dict[str, Any]:
        options: dict[str, Any] = dict(body) if isinstance(body, dict) else {}
        if q.get("propagationPolicy"):
            options["propagationPolicy"] = q["propagationPolicy"]
        if q.get("orphanDependents"):
            options["orphanDependents"] = _truthy(q["orphanDependents"])
        return options

    # --- bodies ----------------------------------------------------------------------------

    @staticmethod
    def _content_type(request: web.Request) -> str:
        raw = request.headers.get("Content-Type", "")
        return raw.split(";", 1)[0].strip().lower()

    async def _body(self, request: web.Request, kind: str, as_json: bool = False) -> Any:
        raw = await request.read()
        if not raw:
            return None
        ctype = self._content_type(request)
        if ctype in ("", JSON) or (as_json and ctype in PATCH_TYPES):
            try:
                return json.loads(raw)
            except ValueError as err:
                raise bad_request(f"the body of the request could not be decoded as JSON: {err}") from err
        if ctype in ("application/yaml", "application/x-yaml"):
            try:
                return yaml.safe_load(raw)
            except yaml.YAMLError as err:
                raise bad_request(f"the body of the request could not be decoded as YAML: {err}") from err
        if ctype == PROTOBUF:
            if protobuf is None:
                raise unsupported_media(
                    "protobuf request bodies are not supported by this API emulator; "
                    f"send one of: {JSON}, application/yaml"
                )
            try:
                return protobuf.decode_body(raw)
            except protobuf.NotProtobuf as err:
                raise bad_request(  # as kube-apiserver's transformDecodeError words it
                    f"the object provided is unrecognized (must be of type {kind}): provided data does not "
                    f"appear to be a protobuf message, expected prefix [107 56 115 0] ({_summary(raw)})"
                ) from err
            except protobuf.UnsupportedProtobuf as err:
                raise unsupported_media(str(err)) from err
        raise unsupported_media(
            f"the body of the request was in an unknown format - accepted media types include: {READABLE}"
        )

    # --- answers ---------------------------------------------------------------------------

    @staticmethod
    def _wants_table(request: web.Request) -> bool:
        accept = request.headers.get("Accept", "")
        for option in accept.split(","):
            params = {p.split("=", 1)[0].strip(): p.split("=", 1)[-1].strip() for p in option.split(";")[1:]}
            if params.get("as") == "Table" and params.get("g", "meta.k8s.io") == "meta.k8s.io":
                return True
        return False

    def _table(
        self, request: web.Request, rt: ResourceType, objs: list[dict[str, Any]], meta: dict[str, Any]
    ) -> dict[str, Any]:
        include = request.query.get("includeObject", "Metadata")
        core = None
        if rt.group == "events.k8s.io":
            from sandbox.apiserver.kinds import event_to_core

            core = event_to_core
        return to_table(rt, objs, include, meta, core)

    def _answer(
        self,
        request: web.Request,
        rt: ResourceType,
        body: dict[str, Any],
        status: int = 200,
        listing: bool = False,
    ) -> web.Response:
        if self._wants_table(request) and body.get("kind") != "Status":
            if listing:
                body = self._table(request, rt, body["items"], body["metadata"])
            else:
                body = self._table(
                    request, rt, [body], {"resourceVersion": body["metadata"].get("resourceVersion")}
                )
        return web.json_response(body, status=status)

    # --- watch -----------------------------------------------------------------------------

    async def _watch(self, request: web.Request, target: Target) -> web.StreamResponse:
        q = request.query
        rt, api = target.rt, self.api
        fields = q.get("fieldSelector")
        if target.name:  # /watch/namespaces/ns/kind/name
            fields = ",".join(f for f in (fields, f"metadata.name={target.name}") if f)
        match = label_predicate(q.get("labelSelector"), fields)
        table = self._wants_table(request)
        timeout = float(q.get("timeoutSeconds") or 1800)
        bookmarks = _truthy(q.get("allowWatchBookmarks")) if "allowWatchBookmarks" in q else False
        rv_text = q.get("resourceVersion") or ""
        try:
            rv = int(rv_text) if rv_text else 0
        except ValueError as err:
            raise bad_request(f'invalid resourceVersion "{rv_text}"') from err
        response = web.StreamResponse(status=200, headers={"Content-Type": JSON})
        response.enable_chunked_encoding()
        await response.prepare(request)

        async def send(kind: str, obj: dict[str, Any]) -> None:
            if table and kind in ("ADDED", "MODIFIED", "DELETED"):
                obj = self._table(
                    request, rt, [obj], {"resourceVersion": obj["metadata"].get("resourceVersion")}
                )
            await response.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")

        if rv and rv < self.store.compacted:
            status = failure_status(
                410, f"too old resource version: {rv} ({self.store.compacted + 1})", "Expired"
            )
            await send("ERROR", status)
            return response
        initial: list[dict[str, Any]] = []
        # WatchList (kubectl wait, informers): initial state, then a bookmark marking its end.
        send_initial = "sendInitialEvents" in q and _truthy(q.get("sendInitialEvents"))
        end_mark = send_initial
        if "sendInitialEvents" not in q and not q.get("resourceVersionMatch") and rv_text in ("", "0"):
            # kube-apiserver (WatchList on) defaults such a watch to sendInitialEvents=true: the same
            # initial ADDEDs, then the bookmark if the client takes bookmarks
            end_mark = bookmarks
        if send_initial:
            rv = 0
        if not rv:
            initial = [
                o
                for o in (api.present(rt, x) for x in self.store.select_view(rt.store_key, target.namespace))
                if match(o)
            ]
        after = rv or self.store.resource_version
        sub, backlog = self.store.subscribe(rt.store_key, target.namespace, after)
        deadline = time.monotonic() + timeout
        next_bookmark = time.monotonic() + self.bookmark_interval
        try:
            for obj in initial:
                await send("ADDED", obj)
            if end_mark:
                await send(
                    "BOOKMARK",
                    {
                        "kind": rt.kind,
                        "apiVersion": rt.api_version,
                        "metadata": {
                            "resourceVersion": str(after),
                            "annotations": {"k8s.io/initial-events-end": "true"},
                        },
                    },
                )
            for event in backlog:
                await self._send_event(send, rt, event, match)
            while True:
                now = time.monotonic()
                if now >= deadline:
                    break
                wait = min(deadline, next_bookmark if bookmarks else deadline, now + 1.0) - now
                try:
                    item = await asyncio.wait_for(sub.queue.get(), timeout=max(wait, 0.0))
                except TimeoutError:
                    transport = request.transport
                    if transport is None or transport.is_closing():
                        break
                    if bookmarks and time.monotonic() >= next_bookmark:
                        next_bookmark = time.monotonic() + self.bookmark_interval
                        await send(
                            "BOOKMARK",
                            {
                                "kind": rt.kind,
                                "apiVersion": rt.api_version,
                                "metadata": {"resourceVersion": str(self.store.resource_version)},
                            },
                        )
                    continue
                if item is None:  # dropped on purpose (fault injection) or server shutdown
                    break
                await self._send_event(send, rt, item, match)
        except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.store.unsubscribe(sub)
        return response

    async def _send_event(self, send: Any, rt: ResourceType, event: Event, match: Any) -> None:
        obj = self.api.present(rt, event.obj)
        now_in = match(obj)
        was_in = event.old is not None and match(self.api.present(rt, event.old))
        if event.type == "ADDED" and now_in:
            await send("ADDED", obj)
        elif event.type == "MODIFIED":
            if now_in and was_in:
                await send("MODIFIED", obj)
            elif now_in:
                await send("ADDED", obj)
            elif was_in:
                await send("DELETED", obj)
        elif event.type == "DELETED" and (now_in or was_in):
            await send("DELETED", obj)
