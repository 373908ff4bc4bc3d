#!/usr/bin/env python3
# apiserver.py — a TEST DOUBLE of the Kubernetes API server, for tabby's tests. It is
# not Kubernetes: no kube-apiserver exists for Debian 12, so tabby's tests run against
# this one, which speaks the same HTTP API to real clients (kubectl, client-go, the
# Python client, tabby's libcurl client): discovery and OpenAPI v3 enough for kubectl,
# objects with uid/resourceVersion/generation from one revision counter, the three
# patch formats, list paging and selectors, watches with bookmarks and a history
# window (410 Expired beyond it), CRDs that serve their kinds, bearer tokens, client
# certificates, TokenRequest, optional RBAC, and a test control API (/_test/) for
# request counts and fault injection. Python 3 standard library plus the openssl CLI.
# Nothing is scheduled, run or garbage-collected: there are no controllers, no kubelet.
#
# Usage (stable; scripts depend on it):
#   python3 tests/k8s/apiserver.py --dir STATE_DIR
#       [--listen ADDR:PORT]       default 127.0.0.1:0 (a free port)
#       [--history N]              events kept for watches/exact lists (default 10000)
#       [--bookmark-interval S]    seconds between watch BOOKMARKs (default 30)
#       [--watch-timeout S]        a watch's length without timeoutSeconds (default 1800)
#       [--state FILE]             objects, revision and history: read at start if the
#                                  file exists, written on SIGTERM/SIGINT and on
#                                  POST /_test/save; without it a fresh cluster
#       [--forget-history]         with --state: keep the objects, drop the history
#                                  window (as a real apiserver restarting its watch cache)
#       [--san NAME_OR_IP]...      extra subjectAltNames of the server certificate
#       [--rbac]                   enforce RBAC for everyone outside system:masters
#       [--token-file FILE]        more static tokens: token,user,uid,"group1,group2"
#       [--min-token-seconds S]    shortest TokenRequest expiry accepted (default 600)
#       [--log FILE]               one line per request (default: stderr)
#
# In STATE_DIR it writes ca.crt/ca.key (kept across restarts), server.crt/key,
# admin.crt/key (client certificate, CN=admin O=system:masters), admin.token (user
# "admin", group system:masters), sa.key (signs ServiceAccount tokens), kubeconfig
# (server URL, CA data, admin token), and last `port` (the port it listens on,
# written once it accepts connections: wait for that file). It exits 0 on SIGTERM.
# A fresh cluster has namespaces default, kube-system, kube-public, kube-node-lease,
# a `default` ServiceAccount in each, the `kubernetes` Service and the bootstrap RBAC
# roles. See tests/k8s/README.md for what is and is not implemented.

import argparse
import os
import secrets
import signal
import socket
import ssl
import sys
import threading
from http.server import ThreadingHTTPServer

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import certs  # noqa: E402
import rbac  # noqa: E402
from auth import Auth, User, read_token_file  # noqa: E402
from control import Control  # noqa: E402
from handler import App, Handler  # noqa: E402
from kinds import Kinds  # noqa: E402
from registry import Registry  # noqa: E402
from rest import Api  # noqa: E402
from store import Store  # noqa: E402


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, addr, app):
        self.address_family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        self.app = app
        super().__init__(addr, Handler)

    def handle_error(self, request, client_address):
        # Failed handshakes are logged where they happen; anything else in one line.
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ssl.SSLError, ConnectionError, TimeoutError, OSError)):
            self.app.log(f"error serving {client_address[0]}: {exc!r}")


def split_listen(text):
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port or 0)


def bootstrap(api, registry):
    """The objects a fresh cluster starts with."""
    anyone = User("system:apiserver", "", ["system:masters"])
    ns_t = registry.by_rid("/namespaces")
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        api.create(ns_t, "v1", "", {"metadata": {"name": ns}}, {}, anyone)
    svc_t = registry.by_rid("/services")
    api.create(svc_t, "v1", "default", {
        "metadata": {"name": "kubernetes", "labels": {"component": "apiserver",
                                                      "provider": "kubernetes"}},
        "spec": {"clusterIP": "10.96.0.1", "ports": [
            {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}},
        {}, anyone)
    for rid, obj in rbac.bootstrap_objects():
        api.create(registry.by_rid(rid), "v1", "", obj, {}, anyone)


def main():
    p = argparse.ArgumentParser(description="Kubernetes API server test double")
    p.add_argument("--dir", required=True)
    p.add_argument("--listen", default="127.0.0.1:0")
    p.add_argument("--history", type=int, default=10000)
    p.add_argument("--bookmark-interval", type=float, default=30.0)
    p.add_argument("--watch-timeout", type=float, default=1800.0)
    p.add_argument("--state")
    p.add_argument("--forget-history", action="store_true")
    p.add_argument("--san", action="append", default=[])
    p.add_argument("--rbac", action="store_true")
    p.add_argument("--token-file")
    p.add_argument("--min-token-seconds", type=int, default=600)
    p.add_argument("--log")
    a = p.parse_args()

    os.makedirs(a.dir, exist_ok=True)
    for stale in ("port", "port.tmp"):
        if os.path.exists(os.path.join(a.dir, stale)):
            os.unlink(os.path.join(a.dir, stale))
    log_file = open(a.log, "a", buffering=1) if a.log else sys.stderr
    log_lock = threading.Lock()

    def log(line):
        with log_lock:
            log_file.write(line + "\n")
            log_file.flush()

    host, port = split_listen(a.listen)
    certs.ensure(a.dir, [host] + a.san)
    token_path = os.path.join(a.dir, "admin.token")
    if os.path.exists(token_path):
        admin_token = open(token_path).read().strip()
    else:
        admin_token = secrets.token_hex(24)
        with open(token_path, "w") as f:
            f.write(admin_token + "\n")
        os.chmod(token_path, 0o600)
    tokens = {admin_token: User("admin", "admin", ["system:masters"])}
    if a.token_file:
        tokens.update(read_token_file(a.token_file))

    store = Store(a.history)
    registry = Registry()
    kinds = Kinds(registry, store)
    api = Api(store, registry, kinds)
    if a.state and os.path.exists(a.state):
        store.load(a.state, keep_history=not a.forget_history)
        kinds.restore()
    else:
        bootstrap(api, registry)

    def save():
        if not a.state:
            return False
        store.save(a.state)
        return True

    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(os.path.join(a.dir, "server.crt"), os.path.join(a.dir, "server.key"))
    tls.load_verify_locations(os.path.join(a.dir, "ca.crt"))
    tls.verify_mode = ssl.CERT_OPTIONAL
    tls.set_alpn_protocols(["http/1.1"])

    auth = Auth(a.dir, tokens, store, a.min_token_seconds)
    authorizer = rbac.Authorizer(store, a.rbac)
    control = Control(store, save)
    app = App(api, registry, auth, authorizer, control, tls, log, a.bookmark_interval,
              a.watch_timeout, f"{host}:{port}")
    server = Server((host, port), app)
    port = server.server_address[1]
    app.server_address = f"{host}:{port}"
    url_host = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    if ":" in url_host:
        url_host = f"[{url_host}]"
    certs.write_kubeconfig(os.path.join(a.dir, "kubeconfig"), f"https://{url_host}:{port}",
                           os.path.join(a.dir, "ca.crt"), admin_token)
    tmp = os.path.join(a.dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, os.path.join(a.dir, "port"))
    log(f"listening on https://{url_host}:{port} dir={a.dir} rbac={a.rbac} "
        f"history={a.history} rv={store.rv}")

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever(poll_interval=0.2)
    for w in store.all_watchers():
        w.interrupt("close")
    save()
    server.server_close()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
