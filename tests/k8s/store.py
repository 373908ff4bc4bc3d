# store.py — the objects of the test API server, versioned the way etcd versions them
# behind a real kube-apiserver: ONE revision counter for every write of every type (an
# object's resourceVersion is the revision that last wrote it), a window of the last N
# events (older revisions are "compacted": watches and exact reads from before the window
# get 410 Expired), the state of any type at any revision inside the window (for
# consistent paged lists), and watchers that receive each event of their type as it is
# written.
#
# Stored objects are never changed in place: a write stores a new object. Readers may
# therefore use an Entry's object and its cached JSON without copying. Callers that
# read-modify-write hold `store.lock` across the read and the write.

import bisect
import collections
import json
import os
import threading


ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class Entry:
    """One stored version of an object."""
    __slots__ = ("obj", "rv", "_raw")

    def __init__(self, obj, rv, raw=None):
        self.obj = obj
        self.rv = rv
        self._raw = raw

    @property
    def raw(self):
        if self._raw is None:
            self._raw = dumps(self.obj)
        return self._raw

    def copy(self):
        """A private, changeable copy of the object."""
        return json.loads(self.raw)


class Event:
    """A write. `new` is the object after it (for DELETED: the object as deleted, with
    the deleting revision as its resourceVersion); `old` the object before (None for
    ADDED)."""
    __slots__ = ("rv", "rid", "type", "key", "new", "old")

    def __init__(self, rv, rid, type_, key, new, old):
        self.rv, self.rid, self.type, self.key, self.new, self.old = rv, rid, type_, key, new, old


class Watcher:
    """A watch's mailbox: the store appends events of its type (and namespace); the
    watch's thread takes them. `interrupt` ends the watch from outside (test control)."""

    def __init__(self, rid, namespace, info=None):
        self.rid = rid
        self.namespace = namespace
        self.info = info or {}
        self.events = collections.deque()
        self.cv = threading.Condition(threading.Lock())
        self.control = None

    def push(self, ev):
        with self.cv:
            self.events.append(ev)
            self.cv.notify()

    def interrupt(self, what):
        with self.cv:
            self.control = what
            self.cv.notify()

    def take(self, timeout):
        """(events, control) once there is either, or ([], None) after `timeout` s."""
        with self.cv:
            if not self.events and self.control is None and timeout > 0:
                self.cv.wait(timeout)
            evs = list(self.events)
            self.events.clear()
            return evs, self.control


class TooLarge(Exception):
    def __init__(self, want, current):
        super().__init__(f"Too large resource version: {want}, current: {current}")
        self.want, self.current = want, current


class Expired(Exception):
    def __init__(self, rv, compacted):
        super().__init__(f"too old resource version: {rv} ({compacted})")
        self.rv, self.compacted = rv, compacted


class Store:
    def __init__(self, history=10000):
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rv = 1
        self.data = {}                 # rid -> {(namespace, name): Entry}
        # rid -> its keys in order, kept as keys come and go: a list at the present
        # revision is then no sort (10,000 pods: 20-60 ms of Python a revision)
        self.order = {}
        self.history = collections.deque()
        self.history_size = history
        self.compacted = 1             # revisions <= this may be gone; > this are kept
        self.watchers = {}             # rid -> set(Watcher)
        self.snapshots = collections.OrderedDict()   # (rid, rv) -> [(key, Entry)] sorted

    # ---- reads ---------------------------------------------------------------------
    def get(self, rid, key):
        with self.lock:
            return self.data.get(rid, {}).get(key)

    def current(self, rid):
        """[(key, Entry)] of a type now, unordered."""
        with self.lock:
            return list(self.data.get(rid, {}).items())

    def keys(self, rid):
        with self.lock:
            return list(self.data.get(rid, {}).keys())

    def at(self, rid, rv=None):
        """(rv, [(key, Entry)] sorted by key): the type's objects at revision rv (now
        when None). Raises Expired before the window, TooLarge after the present."""
        with self.lock:
            if rv is None or rv == self.rv:
                rv = self.rv
            elif rv > self.rv:
                raise TooLarge(rv, self.rv)
            if rv < self.compacted:
                raise Expired(rv, self.compacted)
            snap = self.snapshots.get((rid, rv))
            if snap is not None:
                self.snapshots.move_to_end((rid, rv))
                return rv, snap
            if rv == self.rv:
                objs = self.data.get(rid, {})
                snap = [(k, objs[k]) for k in self.order.get(rid, ())]
                return rv, self._cache(rid, rv, snap)
            cur = dict(self.data.get(rid, {}))
            for ev in reversed(self.history):
                if ev.rv <= rv:
                    break
                if ev.rid != rid:
                    continue
                if ev.old is None:
                    cur.pop(ev.key, None)
                else:
                    cur[ev.key] = ev.old
            return rv, self._cache(rid, rv, sorted(cur.items(), key=lambda kv: kv[0]))

    def _cache(self, rid, rv, snap):
        self.snapshots[(rid, rv)] = snap
        while len(self.snapshots) > 8:
            self.snapshots.popitem(last=False)
        return snap

    def wait_for(self, rv, seconds):
        """True once the store has reached revision rv, False after `seconds`."""
        with self.changed:
            return self.changed.wait_for(lambda: self.rv >= rv, seconds)

    # ---- writes (callers hold self.lock) -------------------------------------------
    def put(self, rid, key, obj):
        """Store obj (whose metadata.resourceVersion is set here) and return its Entry."""
        with self.lock:
            self.rv += 1
            obj.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
            entry = Entry(obj, self.rv)
            objs = self.data.setdefault(rid, {})
            old = objs.get(key)
            objs[key] = entry
            if old is None:
                bisect.insort(self.order.setdefault(rid, []), key)
            self._record(Event(self.rv, rid, ADDED if old is None else MODIFIED, key, entry, old))
            return entry

    def remove(self, rid, key):
        """Delete and return the Entry as deleted (resourceVersion = the deleting rev)."""
        with self.lock:
            old = self.data.get(rid, {}).pop(key, None)
            if old is None:
                return None
            order = self.order[rid]
            del order[bisect.bisect_left(order, key)]
            self.rv += 1
            obj = old.copy()
            obj["metadata"]["resourceVersion"] = str(self.rv)
            entry = Entry(obj, self.rv)
            self._record(Event(self.rv, rid, DELETED, key, entry, old))
            return entry

    def _record(self, ev):
        self.history.append(ev)
        while len(self.history) > self.history_size:
            self.compacted = self.history.popleft().rv
        for w in list(self.watchers.get(ev.rid, ())):
            if w.namespace is None or w.namespace == ev.key[0]:
                w.push(ev)
        self.changed.notify_all()

    def compact(self, rv=None):
        """Forget history up to rv (default: everything until now), as etcd compaction."""
        with self.lock:
            rv = self.rv if rv is None else min(rv, self.rv)
            while self.history and self.history[0].rv <= rv:
                self.history.popleft()
            self.compacted = max(self.compacted, rv)
            return self.compacted

    # ---- watches -------------------------------------------------------------------
    def watch(self, rid, namespace, since, info=None):
        """A Watcher holding every event of rid after revision `since` (None: from now).
        Raises Expired when `since` is older than the window."""
        with self.lock:
            if since is not None and since < self.compacted:
                raise Expired(since, self.compacted)
            w = Watcher(rid, namespace, info)
            if since is not None:
                for ev in self.history:
                    if ev.rv > since and ev.rid == rid and \
                            (namespace is None or ev.key[0] == namespace):
                        w.events.append(ev)
            self.watchers.setdefault(rid, set()).add(w)
            return w

    def unwatch(self, w):
        with self.lock:
            s = self.watchers.get(w.rid)
            if s is not None:
                s.discard(w)

    def all_watchers(self):
        with self.lock:
            return [w for s in self.watchers.values() for w in s]

    # ---- persistence ---------------------------------------------------------------
    def save(self, path):
        with self.lock:
            doc = {"rv": self.rv, "compacted": self.compacted,
                   "objects": [[rid, k[0], k[1], e.obj] for rid, objs in self.data.items()
                               for k, e in objs.items()],
                   "history": [[ev.rv, ev.rid, ev.type, ev.key[0], ev.key[1],
                                ev.new.obj, ev.old.obj if ev.old else None]
                               for ev in self.history]}
            tmp = path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(dumps(doc))
            os.replace(tmp, path)

    def load(self, path, keep_history=True):
        with open(path, "rb") as f:
            doc = json.load(f)
        with self.lock:
            self.rv = doc["rv"]
            self.data = {}
            for rid, ns, name, obj in doc["objects"]:
                # encoded now, not by the first reader: a state of 10,000 pods would
                # otherwise make the first client's list seconds slower than the next's
                self.data.setdefault(rid, {})[(ns, name)] = \
                    Entry(obj, int(obj["metadata"]["resourceVersion"]), dumps(obj))
            self.order = {rid: sorted(objs) for rid, objs in self.data.items()}
            self.snapshots.clear()
            self.history.clear()
            if keep_history:
                self.compacted = doc["compacted"]
                for rv, rid, typ, ns, name, new, old in doc["history"]:
                    self.history.append(Event(rv, rid, typ, (ns, name), Entry(new, rv),
                                              Entry(old, int(old["metadata"]["resourceVersion"]))
                                              if old else None))
            else:
                self.compacted = self.rv
