#!/usr/bin/env python3
# node_probe.py — run inside a pod's namespace by bench/node_bench.sh: one thread per
# server opens a new TCP connection every 10 ms (100 ms timeout) and reports the moment
# the answer changes.
#
#   node_probe.py CONTROL IP:PORT…
#   node_probe.py serve PORT      the server side: accepts and closes, forking nothing, so
#                                 that 100 connections a second cost the machine little
#
# Reads commands from the CONTROL fifo, one per line:
#   expect open|closed   wait until every server is so (5 s at most), then print
#                        "ok" or "timeout"
#   watch closed T0_MS   print, per server, the ms from T0_MS (epoch ms) to the start of
#                        the first attempt that failed, as "IP:PORT MS" lines, then "done"
import socket
import sys
import threading
import time


def now_ms():
    return time.time() * 1000.0


class Server(threading.Thread):
    def __init__(self, addr):
        super().__init__(daemon=True)
        host, port = addr.rsplit(':', 1)
        self.name_ = addr
        self.addr = (host, int(port))
        self.open = None          # the last attempt's result
        self.changed_at = None    # start of the first attempt that gave self.open
        self.lock = threading.Lock()

    def attempt(self):
        s = socket.socket()
        s.settimeout(0.1)
        try:
            s.connect(self.addr)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def run(self):
        while True:
            start = now_ms()
            ok = self.attempt()
            with self.lock:
                if ok != self.open:
                    self.open, self.changed_at = ok, start
            left = 0.01 - (now_ms() - start) / 1000.0
            if left > 0:
                time.sleep(left)

    def state(self):
        with self.lock:
            return self.open, self.changed_at


def serve(port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(('0.0.0.0', port))
    ls.listen(128)
    while True:
        conn, _ = ls.accept()
        conn.close()


def main():
    if sys.argv[1] == 'serve':
        serve(int(sys.argv[2]))
        return
    servers = [Server(a) for a in sys.argv[2:]]
    for s in servers:
        s.start()
    with open(sys.argv[1]) as control:
        for line in iter(control.readline, ''):
            words = line.split()
            if not words:
                continue
            want = words[1] == 'open'
            deadline = now_ms() + 5000
            if words[0] == 'expect':
                while any(s.state()[0] != want for s in servers) and now_ms() < deadline:
                    time.sleep(0.01)
                print('ok' if all(s.state()[0] == want for s in servers) else 'timeout',
                      flush=True)
            elif words[0] == 'watch':
                t0 = float(words[2])
                deadline = now_ms() + 30000
                while now_ms() < deadline:
                    states = [s.state() for s in servers]
                    if all(o == want and at >= t0 for o, at in states):
                        break
                    time.sleep(0.005)
                for s in servers:
                    o, at = s.state()
                    ok = o == want and at >= t0
                    print(s.name_, '%.0f' % (at - t0) if ok else 'timeout', flush=True)
                print('done', flush=True)


if __name__ == '__main__':
    main()
