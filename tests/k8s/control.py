# control.py — the test control interface under /_test/ (admin token only; no real
# client ever asks for it): what clients asked (every request's verb, path, query,
# user, status, bytes sent), faults to inject into matching requests, and actions on
# open watches and history. Bodies and answers are JSON.
#
#   GET    /_test/requests[?since=SEQ]   {"requests": [...], "next": SEQ}
#   DELETE /_test/requests               forget them (counting restarts)
#   GET    /_test/counts                 {"total": N, "by": {"list pods": N, ...}}
#   GET    /_test/traffic                per user and per client address since the start
#                                        (or the last reset): requests by "verb resource",
#                                        bytes received and sent (a watch's as it streams),
#                                        watches open and opened; counted as requests come,
#                                        not from the request log (O(1) a request)
#   DELETE /_test/traffic                start counting again
#   POST   /_test/faults  {...}          add a fault (below); answers {"id": N}
#   GET    /_test/faults                 faults with "remaining" and "hits"
#   DELETE /_test/faults[/ID]            remove all faults (or one)
#   GET    /_test/watches                the open watches
#   POST   /_test/watches/drop  {"path": RE, "reset": bool}   end matching watches
#          (cleanly as at a timeout; with reset, the connection is cut mid-stream)
#   POST   /_test/watches/expire {"path": RE}   send them the 410 Expired ERROR event
#   POST   /_test/compact {"rv": N}      compact history (default: up to now)
#   GET    /_test/state                  revision, compacted revision, counts
#   POST   /_test/save                   write --state now
#
# A fault: {"verb": "list"|"watch"|"get"|...|"GET"|..., "path": RE (searched in the
# path), "query": RE, "watch": true|false, "user": NAME, "times": N (default 1, 0 for
# ever), then what to do: "stall": SECONDS (delay, then answer normally unless a status
# follows), "status": CODE (410, 429 with "retryAfter", 500, 503, 504, ...; "message"
# overrides the text), "event": true (for a watch: answer 200 and send the status as an
# ERROR event, as the real server does for 410), "reset": true (close the connection
# without answering)}.

import collections
import re
import threading
import time

import status as st


class Fault:
    def __init__(self, fid, spec):
        self.id = fid
        self.spec = spec
        self.verb = spec.get("verb")
        self.path = re.compile(spec["path"]) if spec.get("path") else None
        self.query = re.compile(spec["query"]) if spec.get("query") else None
        self.watch = spec.get("watch")
        self.user = spec.get("user")
        times = spec.get("times", 1)
        self.remaining = None if times in (0, None) else int(times)
        self.hits = 0

    def matches(self, method, verb, path, query, watch, user):
        if self.verb and self.verb not in (method, verb):
            return False
        if self.path and not self.path.search(path):
            return False
        if self.query and not self.query.search(query):
            return False
        if self.watch is not None and bool(self.watch) != watch:
            return False
        if self.user and self.user != user:
            return False
        return True

    def describe(self):
        d = dict(self.spec)
        d.update(id=self.id, hits=self.hits, remaining=self.remaining)
        return d


class Traffic:
    """Live counters of what each client asks and gets, kept as requests come and bytes
    go out (the request log records a watch only once it ends)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        """Zero every count but the watches open now (they close later)."""
        with self.lock:
            self.since = time.time()
            old = (getattr(self, "users", {}), getattr(self, "addresses", {}))
            self.users, self.addresses = {}, {}
            for table, was in zip((self.users, self.addresses), old):
                for k, row in was.items():
                    if row["watches_open"]:
                        self._row(table, k)["watches_open"] = row["watches_open"]

    @staticmethod
    def _row(table, key):
        row = table.get(key)
        if row is None:
            row = table[key] = {"requests": 0, "by": collections.Counter(), "bytes_in": 0,
                                "bytes_out": 0, "watches_open": 0, "watches": 0}
        return row

    def request(self, user, addr, what, bytes_in, watch):
        with self.lock:
            for row in (self._row(self.users, user), self._row(self.addresses, addr)):
                row["requests"] += 1
                row["by"][what] += 1
                row["bytes_in"] += bytes_in
                if watch:
                    row["watches"] += 1
                    row["watches_open"] += 1

    def sent(self, user, addr, n):
        with self.lock:
            self._row(self.users, user)["bytes_out"] += n
            self._row(self.addresses, addr)["bytes_out"] += n

    def watch_closed(self, user, addr):
        with self.lock:
            self._row(self.users, user)["watches_open"] -= 1
            self._row(self.addresses, addr)["watches_open"] -= 1

    def snapshot(self):
        def rows(table):
            return {k: dict(v, by=dict(v["by"])) for k, v in table.items()}
        with self.lock:
            now = time.time()
            return {"since": self.since, "now": now, "seconds": round(now - self.since, 3),
                    "users": rows(self.users), "addresses": rows(self.addresses)}


class Reset(Exception):
    """Close the connection without an answer."""


class Control:
    def __init__(self, store, save):
        self.store = store
        self.save = save
        self.lock = threading.Lock()
        self.requests = collections.deque(maxlen=200000)
        self.seq = 0
        self.faults = []
        self.next_fault = 1
        self.traffic = Traffic()

    # ---- the request log -----------------------------------------------------------
    def record(self, rec):
        with self.lock:
            self.seq += 1
            rec["seq"] = self.seq
            self.requests.append(rec)

    # ---- faults --------------------------------------------------------------------
    def fault_for(self, method, verb, path, query, watch, user):
        """The fault this request meets (its count taken), or None."""
        with self.lock:
            for f in self.faults:
                if f.remaining == 0:
                    continue
                if f.matches(method, verb, path, query, watch, user):
                    f.hits += 1
                    if f.remaining is not None:
                        f.remaining -= 1
                    return f
        return None

    @staticmethod
    def apply(f, watch):
        """Act out a fault: sleep, then raise what it answers (None: answer normally;
        ('event', ApiError) for a watch that gets an ERROR event)."""
        s = f.spec
        if s.get("stall"):
            time.sleep(float(s["stall"]))
        if s.get("reset"):
            raise Reset()
        if s.get("status"):
            err = st.by_code(int(s["status"]), s.get("message"), s.get("retryAfter"))
            if watch and s.get("event"):
                return err
            raise err
        return None

    # ---- the control API -----------------------------------------------------------
    def handle(self, method, path, query, body):
        parts = path.strip("/").split("/")[1:]
        what = parts[0] if parts else ""
        if what == "requests":
            if method == "GET":
                since = int((query.get("since") or ["0"])[-1])
                with self.lock:
                    reqs = [r for r in self.requests if r["seq"] > since]
                    return {"requests": reqs, "next": self.seq}
            if method == "DELETE":
                with self.lock:
                    n = len(self.requests)
                    self.requests.clear()
                    return {"reset": n, "next": self.seq}
        if what == "counts" and method == "GET":
            with self.lock:
                by = collections.Counter(f"{r['verb']} {r.get('resource') or r['path']}"
                                         for r in self.requests)
                return {"total": len(self.requests), "by": dict(by)}
        if what == "traffic":
            if method == "GET":
                return self.traffic.snapshot()
            if method == "DELETE":
                self.traffic.reset()
                return {"reset": True}
        if what == "faults":
            with self.lock:
                if method == "POST":
                    f = Fault(self.next_fault, body or {})
                    self.next_fault += 1
                    self.faults.append(f)
                    return {"id": f.id}
                if method == "GET":
                    return {"faults": [f.describe() for f in self.faults]}
                if method == "DELETE":
                    if len(parts) > 1:
                        self.faults = [f for f in self.faults if str(f.id) != parts[1]]
                    else:
                        self.faults = []
                    return {"faults": len(self.faults)}
        if what == "watches":
            ws = self.store.all_watchers()
            if method == "GET" and len(parts) == 1:
                return {"watches": [w.info for w in ws]}
            if method == "POST" and len(parts) == 2 and parts[1] in ("drop", "expire"):
                rx = re.compile((body or {}).get("path") or "")
                n = 0
                for w in ws:
                    if rx.search(w.info.get("path", "")):
                        if parts[1] == "drop":
                            w.interrupt("reset" if (body or {}).get("reset") else "close")
                        else:
                            w.interrupt("expire")
                        n += 1
                return {"dropped" if parts[1] == "drop" else "expired": n}
        if what == "compact" and method == "POST":
            return {"compacted": self.store.compact((body or {}).get("rv"))}
        if what == "state" and method == "GET":
            with self.store.lock:
                return {"resourceVersion": self.store.rv, "compacted": self.store.compacted,
                        "history": len(self.store.history),
                        "objects": {rid: len(o) for rid, o in self.store.data.items()},
                        "watches": len(self.store.all_watchers())}
        if what == "save" and method == "POST":
            if not self.save():
                raise st.bad_request("the server was started without --state")
            return {"saved": True}
        raise st.not_found_path()
