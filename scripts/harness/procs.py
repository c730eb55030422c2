"""The harness's processes: children with timestamped output (`Proc`), the daemon
(`Feeder`), port finding, resident memory and CPU from /proc, HTTP probes and tables.
"""

import atexit
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")

PROCS = []  # every child started, so an interrupted run leaves none behind


def kill_all():
    """SIGKILL every child still running (a stopped one is continued first)."""
    for p in PROCS:
        if p.alive():
            p.signal(signal.SIGCONT)
            p.signal(signal.SIGKILL)
            p.wait_exit(5)


atexit.register(kill_all)


# ---- ports -------------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


# ---- /proc -------------------------------------------------------------------------------


def _status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_kib(pid):
    """VmRSS: the resident set now, KiB."""
    return _status_kib(pid, "VmRSS:")


def peak_rss_bytes(pid):
    """VmHWM: the process's peak resident set, from /proc/PID/status."""
    kib = _status_kib(pid, "VmHWM:")
    return None if kib is None else kib * 1024


def cpu_seconds(pid):
    """user + sys of a live process, from /proc/PID/stat (clock ticks)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


# ---- HTTP --------------------------------------------------------------------------------


def http_get(port, path, timeout=1.0):
    """(status, body); status None when nothing answered."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        try:
            body = e.read().decode()
        except OSError:
            body = ""
        return e.code, body
    except (OSError, ValueError):
        return None, ""


def metric(text, name):
    """The first sample of `name` in a Prometheus/OpenMetrics exposition."""
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            try:
                return float(line.rsplit(" ", 1)[1])
            except ValueError:
                return None
    return None


# ---- processes ---------------------------------------------------------------------------


def event_is(name):
    """A predicate over Proc entries: a JSON line whose stable `event` field is `name`."""
    return lambda e: e[2] is not None and e[2].get("event") == name


class Proc:
    """A child process in a session of its own, whose merged stdout/stderr lines are
    kept as (monotonic time, text, parsed JSON object or None) as they arrive.
    `hooks` run in the reader thread on each entry, so a figure that must be taken
    the moment a line appears (CPU at ready) is exact. With `rss_every` its resident
    memory is sampled into `rss` as (time, KiB). The child is reaped with wait4, so
    its rusage (user+sys of all its threads) is known after exit."""

    def __init__(self, argv, env=None, name="proc", rss_every=None, stdin=subprocess.DEVNULL, hooks=None):
        self.name = name
        self.lines = []
        self.rss = []
        self.hooks = list(hooks or [])
        self.cond = threading.Condition()
        self.rusage = None
        self.t_exit = None
        self._reap_lock = threading.Lock()
        self.t_start = time.monotonic()
        self.p = subprocess.Popen(argv, env=env, stdin=stdin, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        PROCS.append(self)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        if rss_every:
            threading.Thread(target=self._sample, args=(rss_every,), daemon=True).start()

    def _read(self):
        for raw in self.p.stdout:
            t = time.monotonic()
            text = raw.decode("utf-8", "replace").rstrip("\n")
            parsed = None
            if text.startswith("{"):
                try:
                    parsed = json.loads(text)
                except ValueError:
                    pass
                if not isinstance(parsed, dict):
                    parsed = None
            entry = (t, text, parsed)
            for h in self.hooks:
                try:
                    h(entry)
                except Exception as e:  # a hook must never kill the reader
                    print(f"{self.name}: hook failed: {e}", flush=True)
            with self.cond:
                self.lines.append(entry)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def _sample(self, every):
        while self.alive():
            kib = rss_kib(self.p.pid)
            if kib is not None:
                self.rss.append((time.monotonic(), kib))
            time.sleep(every)

    def _reap(self, block):
        """wait4 on the child; True once it has exited. Only ever this reaps it (never
        Popen.poll), so the rusage is not lost to another waiter."""
        with self._reap_lock:
            if self.p.returncode is not None:
                return True
            try:
                pid, status, ru = os.wait4(self.p.pid, 0 if block else os.WNOHANG)
            except ChildProcessError:
                self.p.returncode = -1 if self.p.returncode is None else self.p.returncode
                return True
            if pid != self.p.pid:
                return False
            self.t_exit = time.monotonic()
            self.rusage = ru
            self.p.returncode = os.waitstatus_to_exitcode(status)
            return True

    @property
    def pid(self):
        return self.p.pid

    @property
    def returncode(self):
        return self.p.returncode

    def alive(self):
        return not self._reap(False)

    def signal(self, sig):
        if self.alive():
            try:
                os.kill(self.p.pid, sig)
            except ProcessLookupError:
                pass

    def wait_exit(self, timeout):
        """The exit code, or None if the child is still running after `timeout` seconds."""
        end = time.monotonic() + timeout
        while True:
            if self._reap(False):
                self.reader.join(5)
                return self.p.returncode
            if time.monotonic() >= end:
                return None
            time.sleep(0.002)

    wait = wait_exit

    def cpu_total(self):
        return self.rusage.ru_utime + self.rusage.ru_stime if self.rusage else None

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL after `timeout` seconds; the exit code."""
        if self.p.returncode is not None:
            return self.p.returncode
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        rc = self.wait_exit(timeout)
        if rc is None:
            self.signal(signal.SIGKILL)
            rc = self.wait_exit(5)
        return rc

    def kill(self):
        """SIGKILL and reap."""
        self.signal(signal.SIGKILL)
        return self.wait_exit(5)

    # -- reading the output

    def find(self, pred):
        """Entries (time, text, parsed) for which pred(entry) holds."""
        with self.cond:
            return [e for e in self.lines if pred(e)]

    def wait_line(self, pred, timeout):
        """The first entry for which pred(entry) holds, waiting up to `timeout`; None if
        the timeout passes or the child exits without one."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for e in self.lines:
                    if pred(e):
                        return e
                left = end - time.monotonic()
                # The reader ends when the output closes: no line can come any more.
                if left <= 0 or not self.reader.is_alive():
                    return None
                self.cond.wait(min(left, 0.05))

    def json_lines(self):
        """Every JSON line as a dict, with its arrival time as `_t`."""
        with self.cond:
            snapshot = list(self.lines)
        return [dict(parsed, _t=t) for t, _, parsed in snapshot if parsed is not None]

    def events(self, name):
        """JSON lines (dicts with `_t`) whose stable `event` field is `name`."""
        return [j for j in self.json_lines() if j.get("event") == name]

    def last_event(self, name):
        hits = self.events(name)
        return hits[-1] if hits else None

    def wait_event(self, name, timeout):
        """The first line of event `name` (dict with `_t`), or None."""
        e = self.wait_line(event_is(name), timeout)
        return None if e is None else dict(e[2], _t=e[0])

    def stopped_line(self):
        return self.last_event("stopped")

    def text(self):
        with self.cond:
            return "\n".join(t for _, t, _ in self.lines)

    def tail(self, n=30):
        with self.cond:
            return "\n".join(t for _, t, _ in self.lines[-n:])


# ---- the daemon --------------------------------------------------------------------------


def env_with(base, **extra):
    """`base` with `extra` over it: None removes a variable, any other value is a string."""
    env = dict(base)
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


class Feeder(Proc):
    """kafka-feeder's binary as a child, configured by `env` alone, read through its
    JSON log lines (LOG_FORMAT=json) and their stable `event` field."""

    def __init__(self, binary, env, name="kafka-feeder", rss_every=None, hooks=None):
        super().__init__([str(binary)], env, name, rss_every=rss_every, hooks=hooks)

    def wait_connected(self, timeout):
        """The broker_connected line (dict with `_t`), or None."""
        return self.wait_event("broker_connected", timeout)

    def terminate(self, timeout=40):
        """SIGTERM (continued first if frozen), SIGKILL if it has not exited after
        `timeout` s. Returns (exit code, seconds from the SIGTERM to the exit)."""
        t0 = time.monotonic()
        code = self.stop(timeout)
        return code, max(0.0, (self.t_exit or time.monotonic()) - t0)

    def exit_within(self, timeout):
        """The exit code if it exits by itself within `timeout` s; else None, and it is
        stopped (SIGTERM, then SIGKILL)."""
        code = self.wait_exit(timeout)
        if code is None:
            self.stop()
        return code

    def stopped(self):
        """The final `stopped` line, or {} when there is none (it never started its loop)."""
        return self.stopped_line() or {}

    def counts(self):
        """(delivered, failed, undelivered) of the `stopped` line; without one, 0, -1, -1,
        so a missing line never passes for a clean run."""
        st = self.stopped_line()
        if not st:
            return 0, -1, -1
        return int(st["delivered"]), int(st["failed"]), int(st["undelivered"])


# ---- tables ------------------------------------------------------------------------------


def render_table(header, rows, markdown=False):
    """Rows of cells as text: an ASCII grid, or a Markdown table."""
    cols = [str(h) for h in header]
    srows = [[str(c) for c in r] for r in rows]
    widths = [max([len(cols[i])] + [len(r[i]) for r in srows]) for i in range(len(cols))]

    def row(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    if markdown:
        return "\n".join([row(cols), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [row(r) for r in srows])
    rule = "+-" + "-+-".join("-" * w for w in widths) + "-+"
    return "\n".join([rule, row(cols), rule] + [row(r) for r in srows] + [rule])


def table(title, header, rows):
    """Prints a titled ASCII table."""
    print(f"\n== {title}\n{render_table(header, rows)}", flush=True)
