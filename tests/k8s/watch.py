# watch.py — one watch request (?watch=1 or /watch/...): a 200 answer with chunked
# transfer encoding, one JSON event object ({"type": ..., "object": ...} and a newline)
# per chunk, as a real kube-apiserver streams them.
#
#   resourceVersion unset or "0"   the current objects first (ADDED), then changes
#   resourceVersion N              every change after N; N older than the history window
#                                  gets one ERROR event (410 Expired, "too old resource
#                                  version: N (COMPACTED)") and the stream ends
#   sendInitialEvents=true         the current objects, then a BOOKMARK annotated
#                                  k8s.io/initial-events-end (watch-list)
#   allowWatchBookmarks=true       a BOOKMARK carrying the current resourceVersion every
#                                  --bookmark-interval seconds
#   timeoutSeconds=S               the stream ends cleanly after S seconds (default: the
#                                  server's --watch-timeout)
#   label/field selectors          an object leaving the selection is a DELETED event,
#                                  one entering it ADDED, as the real watch cache does
# A client that goes away is noticed within a few seconds (its socket turns readable).

import select
import time

import selector
import status as st
import tables
from rest import parse_rv, q1, qbool
from store import ADDED, DELETED, MODIFIED, Entry, Expired, dumps


class ClientGone(Exception):
    pass


class WatchStream:
    def __init__(self, api, t, version, ns, query, conn, write, want_table, include,
                 bookmark_interval, default_timeout, info):
        self.api = api
        self.store = api.store
        self.t = t
        self.version = version
        self.ns = (ns or None) if t.namespaced else None
        self.query = query
        self.conn = conn
        self.write = write          # write(bytes): one chunk; raises on a gone client
        self.want_table = want_table
        self.include = include
        self.bookmark_interval = bookmark_interval
        self.default_timeout = default_timeout
        self.info = info
        self.first_table = True
        self.last_rv = 0

    # ---- encoding ------------------------------------------------------------------
    def _event(self, typ, entry):
        if self.want_table:
            obj = tables.table(self.t, self.version, [self.api.view(self.t, self.version,
                                                                    entry).obj],
                               {"resourceVersion": str(entry.rv)}, self.include,
                               with_columns=self.first_table)
            self.first_table = False
        else:
            obj = self.api.encode(self.t, self.version, entry)
        return b'{"type":"' + typ.encode() + b'","object":' + obj + b"}\n"

    def _bookmark(self, rv, initial_end=False):
        md = {"resourceVersion": str(rv), "creationTimestamp": None}
        if initial_end:
            md["annotations"] = {"k8s.io/initial-events-end": "true"}
        return dumps({"type": "BOOKMARK", "object": {"kind": self.t.kind,
                                                     "apiVersion": self.t.api_version(
                                                         self.version), "metadata": md}}) + b"\n"

    def error_event(self, err):
        return dumps({"type": "ERROR", "object": err.status()}) + b"\n"

    # ---- selection -----------------------------------------------------------------
    def _selected(self, obj):
        if self.lsel is not None and not self.lsel(obj.get("metadata", {}).get("labels") or {}):
            return False
        if self.fsel is not None and not self.fsel(obj):
            return False
        return True

    def _translate(self, ev):
        """The (type, Entry) this watch sends for a store event, or None."""
        if self.lsel is None and self.fsel is None:
            return ev.type, ev.new
        now_in = self._selected(ev.new.obj)
        if ev.type == ADDED:
            return (ADDED, ev.new) if now_in else None
        if ev.type == DELETED:
            return (DELETED, ev.new) if now_in else None
        was_in = self._selected(ev.old.obj)
        if now_in:
            return (MODIFIED if was_in else ADDED), ev.new
        if was_in:
            old = ev.old.copy()
            old["metadata"]["resourceVersion"] = str(ev.rv)
            return DELETED, Entry(old, ev.rv)
        return None

    # ---- the stream ----------------------------------------------------------------
    def _client_gone(self):
        try:
            r, _, _ = select.select([self.conn], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(r)

    def run(self, pending_error=None):
        """Stream until the timeout, a control action or the client going away.
        Returns "reset" when the connection must be cut without the final chunk."""
        q = self.query
        self.lsel = selector.parse_labels(q1(q, "labelSelector"))
        self.fsel = selector.parse_fields(q1(q, "fieldSelector"), self.t.fields)
        bookmarks = qbool(q, "allowWatchBookmarks")
        initial_events = qbool(q, "sendInitialEvents")
        timeout = q1(q, "timeoutSeconds")
        timeout = float(timeout) if timeout else self.default_timeout
        deadline = time.monotonic() + timeout
        rv_text = q1(q, "resourceVersion")
        if pending_error is not None:
            self.write(self.error_event(pending_error))
            return None
        initial = []
        since = None
        if rv_text not in (None, "", "0") and not initial_events:
            since = parse_rv(rv_text)
            if since > self.store.rv and not self.store.wait_for(since, 3):
                self.write(self.error_event(st.timeout(
                    f"Too large resource version: {since}, current: {self.store.rv}", 1,
                    [{"reason": "ResourceVersionTooLarge",
                      "message": "Too large resource version"}])))
                return None
        with self.store.lock:
            try:
                if since is None:
                    rv, snap = self.store.at(self.t.rid)
                    initial = [e for k, e in snap if (self.ns is None or k[0] == self.ns)
                               and self._selected(e.obj)]
                    w = self.store.watch(self.t.rid, self.ns, rv, self.info)
                    self.last_rv = rv
                else:
                    w = self.store.watch(self.t.rid, self.ns, since, self.info)
                    self.last_rv = since
            except Expired as e:
                w = None
                err = st.watch_too_old(e.rv, e.compacted)
        if w is None:
            self.write(self.error_event(err))
            return None
        try:
            for e in initial:
                self.write(self._event(ADDED, e))
            if initial_events:
                self.write(self._bookmark(self.last_rv, initial_end=True))
            next_bookmark = time.monotonic() + self.bookmark_interval
            while True:
                now = time.monotonic()
                if now >= deadline:
                    return None
                wait = min(deadline - now, 2.0)
                if bookmarks:
                    wait = min(wait, max(0.0, next_bookmark - now))
                evs, ctl = w.take(wait)
                self._send(evs)
                if ctl == "close":
                    return None
                if ctl == "reset":
                    return "reset"
                if ctl == "expire":
                    self.write(self.error_event(st.watch_too_old(self.last_rv,
                                                                 self.store.compacted)))
                    return None
                if bookmarks and time.monotonic() >= next_bookmark:
                    with self.store.lock:
                        evs, _ = w.take(0)
                        rv = self.store.rv
                    self._send(evs)
                    self.write(self._bookmark(rv))
                    self.last_rv = rv
                    next_bookmark = time.monotonic() + self.bookmark_interval
                if not evs and self._client_gone():
                    raise ClientGone()
        finally:
            self.store.unwatch(w)

    def _send(self, evs):
        for ev in evs:
            out = self._translate(ev)
            if out is not None:
                typ, entry = out
                self.write(self._event(typ, self.api.view(self.t, self.version, entry)))
            self.last_rv = ev.rv
