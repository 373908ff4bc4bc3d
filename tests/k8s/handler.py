# handler.py — the HTTP side of the test API server: TLS per connection (handshake on
# the connection's own thread), HTTP/1.1 keep-alive, the URL scheme of the Kubernetes
# API (/api/v1/..., /apis/G/V/..., namespaces, subresources, the /watch/ prefix),
# authentication, the test control's faults and request log, authorization, then
# the verb. Every error goes out as a Status object.

import json
import re
import socket
import ssl
import time
import traceback
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import discovery
import patch as patches
import protobuf
import status as st
import tables
from control import Reset
from rest import key_of, q1, qbool
from watch import ClientGone, WatchStream

NAMESPACE_SUBRESOURCES = ("status", "finalize")
MAX_BODY = 3 * 1024 * 1024


class Request:
    """What a URL asks for, as kube-apiserver's RequestInfo sees it."""

    def __init__(self):
        self.resource_request = False
        self.api_group = ""
        self.version = ""
        self.type = None
        self.namespace = ""
        self.name = ""
        self.subresource = ""
        self.verb = ""
        self.watch = False
        self.resource = ""


def _split_accept(accept):
    return "as=Table" in (accept or "")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tabby-test-apiserver"
    sys_version = ""

    def setup(self):
        app = self.server.app
        self.app = app
        # Answers go out as a header write and a body write: without TCP_NODELAY the
        # second waits for the client's delayed ACK (40 ms per request).
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request.settimeout(30)
        try:
            first = self.request.recv(1, socket.MSG_PEEK)
            if first and first != b"\x16":  # not a TLS handshake: say so, as Go's server does
                self.request.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP "
                                     b"request to an HTTPS server.\n")
                raise ssl.SSLError("plain HTTP on the HTTPS port")
            self.request = app.tls.wrap_socket(self.request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            app.log(f"tls handshake failed from {self.client_address[0]}: {e}")
            self.request.close()
            raise
        self.request.settimeout(None)
        super().setup()

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, TimeoutError, OSError):
            pass

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.app.serve(self)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    # ---- responses -----------------------------------------------------------------
    def send_bytes(self, code, body, content_type="application/json", headers=None):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.sent_code = code
        self.sent_bytes = len(body)
        self.count_sent(len(body))

    def start_chunked(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.flush()
        self.sent_code = 200
        self.sent_bytes = 0

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()
        self.sent_bytes += len(data)
        self.count_sent(len(data))

    def count_sent(self, n):
        if self.traffic_key is not None:
            self.app.control.traffic.sent(*self.traffic_key, n)

    def end_chunked(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
                if len(out) > MAX_BODY:
                    raise st.ApiError(413, "RequestEntityTooLarge",
                                      "Request entity too large: limit is 3145728")
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise st.ApiError(413, "RequestEntityTooLarge",
                              "Request entity too large: limit is 3145728")
        return self.rfile.read(n) if n else b""


def parse_path(registry, method, path, query):
    """A Request for a resource URL, or None for anything else (discovery etc.)."""
    parts = [p for p in path.split("/") if p]
    r = Request()
    if len(parts) >= 2 and parts[0] == "api":
        r.api_group, r.version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        r.api_group, r.version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None
    r.resource_request = True
    if rest[0] == "watch":
        r.watch = True
        rest = rest[1:]
        if not rest:
            raise st.not_found_path()
    if rest[0] == "namespaces" and len(rest) > 1:
        r.namespace = rest[1]
        if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    if len(rest) > 3:
        raise st.not_found_path()
    r.resource = rest[0]
    r.name = rest[1] if len(rest) > 1 else ""
    r.subresource = rest[2] if len(rest) > 2 else ""
    r.type = registry.lookup(r.api_group, r.version, r.resource)
    if r.type is None:
        raise st.not_found_path()
    # /api/v1/namespaces/NAME is the one cluster-scoped object whose URL names a
    # namespace (RBAC sees it as in that namespace, as the real server does).
    if not r.type.namespaced and r.namespace and r.resource != "namespaces":
        raise st.not_found_path()
    if r.subresource and r.subresource not in r.type.all_subresources():
        raise st.not_found_path()
    watch_param = qbool(query, "watch")
    if method in ("GET", "HEAD"):
        if r.watch or watch_param:
            r.verb, r.watch = "watch", True
        elif r.name:
            r.verb = "get"
        else:
            r.verb = "list"
    elif method == "POST":
        r.verb = "create"
    elif method == "PUT":
        r.verb = "update"
    elif method == "PATCH":
        r.verb = "patch"
    elif method == "DELETE":
        r.verb = "delete" if r.name else "deletecollection"
    else:
        raise st.method_not_supported(r.resource, r.api_group, method)
    if r.verb in ("update", "patch") and not r.name:
        raise st.method_not_supported(r.resource, r.api_group, r.verb)
    if r.verb == "create" and r.name and not r.subresource:
        raise st.method_not_supported(r.resource, r.api_group, "create")
    if r.type.virtual and r.verb != "create":
        raise st.method_not_supported(r.resource, r.api_group, r.verb)
    return r


class App:
    """Everything a request needs; one per server."""

    def __init__(self, api, registry, auth, authorizer, control, tls, log, bookmark_interval,
                 watch_timeout, server_address):
        self.api = api
        self.registry = registry
        self.auth = auth
        self.authorizer = authorizer
        self.control = control
        self.tls = tls
        self.log = log
        self.bookmark_interval = bookmark_interval
        self.watch_timeout = watch_timeout
        self.server_address = server_address

    def serve(self, h):
        start = time.monotonic()
        h.sent_code, h.sent_bytes = 0, 0
        h.traffic_key = None
        url = urlsplit(h.path)
        path, raw_query = url.path, url.query
        query = parse_qs(raw_query, keep_blank_values=True)
        method = h.command
        user, r, reset = None, None, False
        try:
            # Read the body first: an answer given before it would leave it in the
            # connection, to be taken for the next request.
            try:
                h.body = h.read_body()
            except st.ApiError:
                h.close_connection = True
                raise
            if path in ("/healthz", "/livez", "/readyz"):
                h.send_bytes(200, b"ok", "text/plain; charset=utf-8")
                return
            cert = h.connection.getpeercert() if hasattr(h.connection, "getpeercert") else None
            user = self.auth.authenticate(h.headers, cert)
            if path.startswith("/_test/") or path == "/_test":
                if not user.is_master():
                    raise st.forbidden("", "", "", f'User "{user.name}" cannot use the test '
                                       "control")
                body = h.body
                out = self.control.handle(method, path, query, json.loads(body) if body else None)
                h.send_bytes(200, json.dumps(out).encode())
                return
            user = self.auth.impersonate(user, h.headers, self.authorizer.check)
            h.traffic_key = (user.name, h.client_address[0])
            r = parse_path(self.registry, method, path, query)
            what = f"{r.verb} {r.resource}" if r else f"{method.lower()} {path}"
            self.control.traffic.request(*h.traffic_key, what, len(h.body),
                                         bool(r and r.watch))
            verb = r.verb if r else method.lower()
            fault = self.control.fault_for(method, verb, path, raw_query,
                                           bool(r and r.watch), user.name)
            pending = self.control.apply(fault, bool(r and r.watch)) if fault else None
            if r is None:
                self.authorizer.check(user, {"verb": method.lower(), "path": path})
                self.nonresource(h, method, path)
            else:
                self.authorizer.check(user, {
                    "verb": r.verb, "api_group": r.api_group, "resource": r.resource,
                    "subresource": r.subresource, "namespace": r.namespace, "name": r.name})
                self.resource(h, r, query, user, pending)
        except Reset:
            reset = True
        except st.ApiError as e:
            self.send_error_status(h, e)
        except ClientGone:
            reset = True
        except (ConnectionError, ssl.SSLError, BrokenPipeError):
            reset = True
        except Exception as e:  # a bug here: answer 500 and say where
            self.log("internal error: " + traceback.format_exc().replace("\n", " | "))
            if not h.sent_code:
                self.send_error_status(h, st.internal(f"{type(e).__name__}: {e}"))
        finally:
            ms = (time.monotonic() - start) * 1000
            name = user.name if user else "-"
            rec = {"time": time.time(), "method": method, "verb": r.verb if r else method.lower(),
                   "path": path, "query": raw_query, "user": name, "status": h.sent_code,
                   "bytes": h.sent_bytes, "watch": bool(r and r.watch), "ms": round(ms, 1),
                   "resource": r.resource if r else ""}
            if not path.startswith("/_test"):
                self.control.record(rec)
            self.log(f"{method} {path}{'?' + raw_query if raw_query else ''} user={name} "
                     f"status={h.sent_code} bytes={h.sent_bytes} ms={ms:.1f}"
                     f"{' reset' if reset else ''}")
            if reset:
                h.close_connection = True
                try:
                    h.connection.shutdown(2)
                except OSError:
                    pass

    def send_error_status(self, h, e):
        if h.sent_code:
            return
        h.send_bytes(e.code, json.dumps(e.status()).encode(), headers=e.headers)

    # ---- discovery and other non-resource URLs -------------------------------------
    def nonresource(self, h, method, path):
        reg = self.registry
        accept = h.headers.get("Accept", "")
        p = path.rstrip("/") or "/"
        doc, ctype = None, "application/json"
        if p == "/version":
            doc = discovery.VERSION
        elif p == "/api":
            if discovery.wants_aggregated(accept):
                doc, ctype = discovery.aggregated(reg, True), discovery.AGGREGATED
            else:
                doc = discovery.api_versions(self.server_address)
        elif p == "/apis":
            if discovery.wants_aggregated(accept):
                doc, ctype = discovery.aggregated(reg, False), discovery.AGGREGATED
            else:
                doc = discovery.api_groups(reg)
        elif p == "/api/v1":
            doc = discovery.resource_list(reg, "", "v1")
        elif re.fullmatch(r"/apis/[^/]+", p):
            doc = discovery.api_group(reg, p.split("/")[2])
        elif re.fullmatch(r"/apis/[^/]+/[^/]+", p):
            doc = discovery.resource_list(reg, p.split("/")[2], p.split("/")[3])
        elif p == "/openapi/v3":
            doc = discovery.openapi_index(reg)
        elif p.startswith("/openapi/v3/api/"):
            doc = discovery.openapi_doc(reg, "", p.split("/")[4])
        elif re.fullmatch(r"/openapi/v3/apis/[^/]+/[^/]+", p):
            doc = discovery.openapi_doc(reg, p.split("/")[4], p.split("/")[5])
        elif p in ("/openapi/v3/api", "/openapi/v3/apis"):
            doc = {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"},
                   "paths": {}, "components": {}}
        if doc is None:
            h.send_bytes(404, b"404 page not found\n", "text/plain; charset=utf-8")
            return
        if method not in ("GET", "HEAD"):
            raise st.method_not_supported("", "", method)
        h.send_bytes(200, json.dumps(doc).encode(), ctype)

    # ---- resources -----------------------------------------------------------------
    def resource(self, h, r, query, user, pending):
        api, t = self.api, r.type
        want_table = _split_accept(h.headers.get("Accept"))
        include = q1(query, "includeObject", "Metadata")
        if r.verb == "watch":
            if r.name:
                query = dict(query)
                sel = q1(query, "fieldSelector")
                query["fieldSelector"] = [f"metadata.name={r.name}" + (f",{sel}" if sel else "")]
            h.start_chunked()
            h.close_connection = False
            info = {"path": h.path.split("?")[0], "query": urlsplit(h.path).query,
                    "user": user.name, "since": time.time()}
            ws = WatchStream(api, t, r.version, r.namespace, query, h.connection,
                             h.write_chunk, want_table, include, self.bookmark_interval,
                             self.watch_timeout, info)
            try:
                if ws.run(pending) == "reset":
                    raise Reset()
                h.end_chunked()
            finally:
                self.control.traffic.watch_closed(*h.traffic_key)
            return
        if pending is not None:
            raise pending
        if t.namespaced and r.namespace == "" and r.verb not in ("list", "deletecollection"):
            raise st.not_found_path()
        if r.verb == "get":
            e = api.get(t, r.namespace, r.name)
            if r.subresource and r.subresource != "status":
                raise st.method_not_supported(r.resource, r.api_group, "get")
            e = api.view(t, r.version, e)
            if want_table:
                h.send_bytes(200, tables.table(t, r.version, [e.obj],
                                               {"resourceVersion": str(e.rv)}, include))
            else:
                h.send_bytes(200, api.encode(t, r.version, e))
            return
        if r.verb == "list":
            rv, entries, token, remaining = api.list(t, r.version, r.namespace, query)
            if want_table:
                meta = {"resourceVersion": str(rv)}
                if token:
                    meta["continue"] = token
                if remaining:
                    meta["remainingItemCount"] = remaining
                h.send_bytes(200, tables.table(t, r.version,
                                               [api.view(t, r.version, e).obj for e in entries],
                                               meta, include))
            else:
                h.send_bytes(200, api.list_bytes(t, r.version, rv, entries, token, remaining))
            return
        body = h.body
        ctype = (h.headers.get("Content-Type") or "").split(";")[0].strip()
        if r.verb == "create":
            obj = self._decode(ctype, body)
            if t.virtual:
                h.send_bytes(201, json.dumps(self.review(t, obj, user)).encode())
                return
            if r.subresource == "token":
                sa = api.get(t, r.namespace, r.name)
                h.send_bytes(201, json.dumps(self.auth.token_request(sa, obj)).encode())
                return
            if r.subresource:
                raise st.method_not_supported(r.resource, r.api_group, "create")
            e = api.create(t, r.version, r.namespace, obj, query, user)
            h.send_bytes(201, api.encode(t, r.version, e))
            return
        if r.verb == "update":
            code, e = api.update(t, r.version, r.namespace, r.name, self._decode(ctype, body),
                                 query, r.subresource or None)
            h.send_bytes(code, api.encode(t, r.version, e))
            return
        if r.verb == "patch":
            if ctype == patches.APPLY:
                code, e = self.server_side_apply(t, r, body, query, user)
                h.send_bytes(code, api.encode(t, r.version, e))
                return
            e = api.patch(t, r.version, r.namespace, r.name, ctype, body, query,
                          r.subresource or None)
            h.send_bytes(200, api.encode(t, r.version, e))
            return
        if r.verb == "delete":
            opts = self._decode(ctype, body) if body.strip() else {}
            e = api.delete(t, r.version, r.namespace, r.name, opts, query)
            h.send_bytes(200, api.encode(t, r.version, e))
            return
        if r.verb == "deletecollection":
            opts = self._decode(ctype, body) if body.strip() else {}
            rv, entries = api.delete_collection(t, r.version, r.namespace, query, opts)
            h.send_bytes(200, api.list_bytes(t, r.version, rv, entries, None, None))
            return
        raise st.method_not_supported(r.resource, r.api_group, r.verb)

    @staticmethod
    def _decode(ctype, body):
        if ctype == protobuf.CONTENT_TYPE:
            return protobuf.decode(body)
        return App._json(body)

    @staticmethod
    def _json(body):
        try:
            obj = json.loads(body or b"{}")
        except ValueError as e:
            raise st.bad_request(f"the body of the request could not be decoded: {e}")
        if not isinstance(obj, dict):
            raise st.bad_request("the body of the request is not an object")
        return obj

    def server_side_apply(self, t, r, body, query, user):
        """apply-patch+yaml, approximated: create when missing, else the fields given
        merged in (strategic merge for built-in kinds, merge patch otherwise). No
        managedFields, no conflicts. JSON bodies only (kubectl sends JSON)."""
        obj = self._json(body)
        api = self.api
        with api.store.lock:
            if api.store.get(t.rid, key_of(t, r.namespace, r.name)) is None:
                obj.setdefault("metadata", {})["name"] = r.name
                return 201, api.create(t, r.version, r.namespace, obj, query, user)
            ctype = patches.STRATEGIC if t.crd is None and t.kind in patches.STRATEGIC_KINDS \
                else patches.MERGE
            return 200, api.patch(t, r.version, r.namespace, r.name, ctype,
                                  json.dumps(obj).encode(), query, r.subresource or None)

    def review(self, t, obj, user):
        spec = obj.get("spec") or {}
        out = {"kind": t.kind, "apiVersion": t.api_version(), "metadata":
               {"creationTimestamp": None}, "spec": spec}
        if t.kind == "SelfSubjectAccessReview":
            out["status"] = self.authorizer.review(user, spec)
        elif t.kind == "SubjectAccessReview":
            from auth import User
            subject = User(spec.get("user", ""), spec.get("uid", ""), spec.get("groups") or [])
            out["status"] = self.authorizer.review(subject, spec)
        elif t.kind == "TokenReview":
            return self.auth.token_review(obj)
        elif t.kind == "SelfSubjectRulesReview":
            out["status"] = self.authorizer.rules_review(user, spec.get("namespace", ""))
        elif t.kind == "SelfSubjectReview":
            out.pop("spec")
            out["status"] = {"userInfo": user.info()}
        return out
