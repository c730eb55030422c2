"""Broker faults under load (issue 14): scenarios 10-13 of scripts/e2e/rig.py.

10 outage: the broker stopped (SIGSTOP) longer than the message timeout;
   deliveries must resume within 10 s of its return.
11 broker-kill: the broker SIGKILLed under load and restarted on the same port.
12 topic-recreate: the topic deleted under load and created again.
13 chaos: random stalls, kills and restarts every 20-60 s; SIGTERM at a random moment.

tansu keeps its topics in memory, so a killed broker comes back empty: the topic is
created again and what each life of the broker (or of the topic) holds is read by a
consumer that follows it (`Tail`) before that life ends. To read a life to its very
end, the daemon is frozen (SIGSTOP) for the moment it takes the follower to reach the
end (well under a second once it has kept up); the daemon's counts are reconciled
with the sum over the lives. Every helper of rig.py comes through ctx["rig"].
"""

import os
import random
import signal
import threading
import time
from collections import Counter

from confluent_kafka import Consumer, TopicPartition

import harness
from harness import http_get, metric, table

RESUME_BOUND_S = 10.0  # deliveries resume within this of the broker's (or topic's) return
# After a SIGKILL the restarted broker has forgotten the producer id: the daemon
# has to notice a stuck producer first (no delivery for 5 s while the broker
# answers), so a kill gets a wider bound than an outage (issue 14 asks "resume").
KILL_RESUME_BOUND_S = 20.0
# About 200 msg/s: enough traffic to have messages in flight at every fault, little
# enough for a debug tansu to keep up on two shared cores.
RATE = {"PRODUCE_INTERVAL": "0.05", "MIN_RECORDS_PER_BATCH": "5", "MAX_RECORDS_PER_BATCH": "15"}
# batch_sent (debug) lines count what was sent, independently of the delivery counters.
LOGS = {"RUST_LOG": "info,kafka_feeder=debug"}


class Tail:
    """Follows one life of a topic from offset 0, counting what it holds."""

    def __init__(self, bootstrap, topic, conf=None, timeout=30):
        self.topic = topic
        self.c = Consumer(dict({
            "bootstrap.servers": bootstrap, "group.id": "e2e-tail-" + os.urandom(6).hex(),
            "enable.auto.commit": False, "auto.offset.reset": "earliest", "enable.partition.eof": True,
            "fetch.wait.max.ms": 100, "log_level": 2,  # the broker is killed on purpose
        }, **(conf or {})))
        deadline = time.monotonic() + timeout
        while True:
            md = self.c.list_topics(topic, timeout=10).topics.get(topic)
            if md is not None and md.error is None and md.partitions:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"topic {topic} has no partitions: {md and md.error}")
            time.sleep(0.2)
        self.parts = sorted(md.partitions)
        self.c.assign([TopicPartition(topic, p, 0) for p in self.parts])
        self.count = 0
        self.invalid = 0
        self.next_offset = {p: 0 for p in self.parts}
        self.eof_at = {}
        self.last_msg = time.monotonic()
        self.lock = threading.Lock()
        self.stop_flag = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop_flag:
            try:
                msgs = self.c.consume(num_messages=10_000, timeout=0.2)
            except Exception:  # the broker died under it: nothing more to read from this life
                time.sleep(0.2)
                continue
            with self.lock:
                for m in msgs:
                    if m.error():
                        if m.error().code() == -191:  # _PARTITION_EOF
                            self.eof_at[m.partition()] = m.offset()
                        continue
                    self.count += 1
                    self.next_offset[m.partition()] = m.offset() + 1
                    v = m.value()
                    if not (v and v[:1] == b"{" and v[-1:] == b"}"):
                        self.invalid += 1
                    self.last_msg = time.monotonic()

    def settle(self, timeout=30, quiet=1.0):
        """Waits until every partition reported its end at the position read and nothing
        arrived for `quiet` seconds (tansu's high watermark can trail for a moment)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                at_end = all(self.eof_at.get(p, -1) >= self.next_offset[p] for p in self.parts)
                idle = time.monotonic() - self.last_msg
            if at_end and idle >= quiet:
                return True
            time.sleep(0.05)
        return False

    def close(self):
        self.stop_flag = True
        self.t.join(5)
        self.c.close()
        return self.count


class Lives:
    """The lives of one topic (the broker killed and restarted, or the topic deleted and
    created again), each followed by a Tail of its own: the topic held their sum."""

    def __init__(self):
        self.tails = []

    def follow(self, bootstrap, topic):
        self.tails.append(Tail(bootstrap, topic))
        return self.tails[-1]

    @property
    def last(self):
        return self.tails[-1]

    def founds(self):
        return [t.count for t in self.tails]

    def invalid(self):
        return sum(t.invalid for t in self.tails)

    def close(self):
        for t in self.tails:
            if not t.stop_flag:
                t.close()


class Probe:
    """Polls /healthz, /readyz and /metrics every 0.25 s: health states and the
    delivered/failed counters over time."""

    def __init__(self, port):
        self.port = port
        self.samples = []  # (t, healthz, readyz, readyz body, delivered, failed, restarts)
        self.stop_flag = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop_flag:
            t = time.monotonic()
            h, _ = http_get(self.port, "/healthz", 0.5)
            r, body = http_get(self.port, "/readyz", 0.5)
            m, text = http_get(self.port, "/metrics", 0.5)
            if m == 200:
                restarts = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                               if line.startswith("kafka_feeder_producer_restarts_total"))
                self.samples.append((t, h, r, body.strip()[:120], metric(text, "kafka_feeder_messages_delivered_total"),
                                     sum_metric(text, "kafka_feeder_messages_failed_total"), restarts))
            time.sleep(max(0.0, 0.25 - (time.monotonic() - t)))

    def delivered_at(self, t):
        before = [s[4] for s in self.samples if s[0] <= t and s[4] is not None]
        return before[-1] if before else 0

    def first_delivery_after(self, t):
        """Seconds from t to the first sample whose delivered count is above the count at t."""
        base = self.delivered_at(t)
        for s in self.samples:
            if s[0] > t and s[4] is not None and s[4] > base:
                return s[0] - t
        return None

    def states(self, t0, t1):
        """'healthz/readyz' codes seen between t0 and t1, with the last /readyz body."""
        seen = [s for s in self.samples if t0 <= s[0] < t1]
        codes = sorted({f"{s[1]}/{s[2]}" for s in seen})
        bodies = [s[3] for s in seen if s[2] not in (200, None)]
        return " ".join(codes) or "-", (bodies[-1] if bodies else "")

    def restarts(self):
        return max((s[6] for s in self.samples), default=0)

    def close(self):
        self.stop_flag = True
        self.t.join(2)


def sum_metric(text, name):
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{"))


def reasons_of(stopped):
    return {k: int(v) for k, v in (kv.split("=") for kv in str(stopped.get("failure_reasons", "")).split(",")
                                   if "=" in kv)}


def sent_of(d):
    """Messages handed to librdkafka: the sum of the batch_sent sizes (a message the
    producer refused at once, e.g. while fatally broken, is scheduled but not handed)."""
    return sum(int(j.get("size", 0)) for j in d.events("batch_sent"))


def freeze_and_settle(d, tail):
    """Freezes the daemon and lets the follower reach the end of the topic; returns the
    seconds the daemon stayed frozen so far (the caller continues it)."""
    t0 = time.monotonic()
    d.signal(signal.SIGSTOP)
    time.sleep(0.3)  # requests already sent land and are acknowledged
    settled = tail.settle(timeout=30)
    return time.monotonic() - t0, settled


def reconcile(errs, stopped, handed, found, invalid, code, vanished_ok=0):
    """The counts at the end: every delivered message found, every other one failed with
    a reason, nothing counted twice. `scheduled` (the stopped line's, counted when a batch
    is drawn, apart from the delivery reports) must equal delivered + failed + undelivered;
    `handed` (the batch_sent sizes) cannot exceed it. `vanished_ok`: acknowledgements
    the broker gave for a topic that did not exist (tansu's, scenario 12), which no topic
    can hold. Returns the row cells."""
    scheduled = int(stopped.get("scheduled", handed))
    delivered = int(stopped.get("delivered", 0))
    failed = int(stopped.get("failed", -1))
    undelivered = int(stopped.get("undelivered", -1))
    reasons = reasons_of(stopped)
    r = rig_check
    r(errs, bool(stopped), "no stopped line")
    r(errs, found >= delivered - vanished_ok, f"lost {delivered - found} delivered messages (found {found}; "
                                                 f"{vanished_ok} acknowledged while the topic did not exist)")
    r(errs, found <= delivered + failed, f"found {found} > delivered {delivered} + failed {failed}: duplicates")
    r(errs, sum(reasons.values()) == failed, f"failure reasons {reasons} do not add up to failed={failed}")
    r(errs, delivered + failed + undelivered == scheduled,
      f"delivered {delivered} + failed {failed} + undelivered {undelivered} != scheduled {scheduled}")
    r(errs, handed <= scheduled, f"handed to librdkafka {handed} > scheduled {scheduled}")
    r(errs, invalid == 0, f"{invalid} messages are not JSON objects")
    r(errs, code == (0 if failed == 0 and undelivered == 0 else 8), f"exit {code} for failed={failed}")
    shown = ",".join(f"{k}={v}" for k, v in reasons.items()) or "-"
    return [scheduled, handed, delivered, found, failed, shown, undelivered, code]


def log_note(ctx, where, note):
    print(f"[{time.strftime('%H:%M:%S')}] {where}: {note}", flush=True)
    ctx.setdefault("notes", []).append(f"{where}: {note}")


def rig_check(errs, cond, what):
    if not cond:
        errs.append(what)
    return cond


def keep_log(rig, d, name):
    """The daemon's whole output, for a failed scenario: the tail in the report is short."""
    path = os.path.join(rig.WORK, f"{name}-daemon.log")
    with open(path, "w") as f:
        f.write(d.text())
    return path


def fault_events(d):
    """What the daemon said about the producer: rebuild lines, fatal errors."""
    c = Counter(j.get("event") for j in d.json_lines()
                if str(j.get("event", "")).startswith("producer_") or j.get("event") == "delivery_failed")
    return ",".join(f"{k}={v}" for k, v in sorted(c.items())) or "-"


def start_feeding(ctx, broker, topic, port, name, rss_every=None, **env):
    """The daemon feeding `topic` at RATE, and a Probe on its HTTP port. Returns
    (daemon, probe, None) once it is connected, else (None, None, the failure)."""
    rig = ctx["rig"]
    kw = {"rss_every": rss_every} if rss_every else {}
    d = rig.start_daemon(rig.daemon_env(broker, ctx["s3"], topic, HTTP_PORT=port, **{**RATE, **LOGS, **env}), **kw)
    probe = Probe(port)
    if not d.wait_event("broker_connected", 30):
        d.stop()
        probe.close()
        return None, None, f"{name}: never connected\n{d.tail(20)}"
    return d, probe, None


def await_resume(probe, t_back, wait=20, then=5):
    """Seconds from `t_back` (the broker's return) to the first delivery, or None
    within `wait` s; then `then` s more of traffic."""
    deadline = t_back + wait
    while time.monotonic() < deadline and probe.first_delivery_after(t_back) is None:
        time.sleep(0.1)
    resume = probe.first_delivery_after(t_back)
    time.sleep(then)
    return resume


def finish(d, probe, ended=None):
    """Whether the daemon was still running, then its exit code after SIGTERM. `ended` is
    (running, code) when the scenario already sent the SIGTERM itself."""
    if ended is None:
        alive = d.alive()
        code, _ = d.terminate(40)
    else:
        alive, code = ended
    probe.close()
    return alive, code


# The reconciled counts that end every table of these scenarios (reconcile's cells).
RECONCILED = ["scheduled", "handed", "delivered", "found", "failed", "reasons", "undelivered", "exit"]


def wind_up(errs, d, probe, lives=None, read=None, ended=None, vanished_ok=0):
    """The end of a fault scenario: the daemon stopped by SIGTERM (unless the scenario
    stopped it: `ended` is then whether it was running and its exit code), the last of
    the topic's `lives` followed to its end (without lives: the topic read whole by `read`),
    the counts reconciled, the daemon's survival checked. Returns (its stopped line, what
    each life held, the reconciled cells)."""
    alive, code = finish(d, probe, ended)
    if lives:
        lives.last.settle(timeout=60)
        founds, invalid = lives.founds(), lives.invalid()
        lives.close()
    else:
        found, _, invalid, _ = read()
        founds = [found]
    stopped = d.stopped()
    row = reconcile(errs, stopped, sent_of(d), sum(founds), invalid, code, vanished_ok=vanished_ok)
    rig_check(errs, alive, "the daemon exited during the run")
    return stopped, founds, row


def conclude(failures, errs, rig, d, name, title, header, cells, row):
    """The scenario's table (its own columns, then the reconciled counts) and, if a check
    failed, the failure, with the daemon's whole log kept."""
    table(title, header + RECONCILED, [cells + row])
    report_failure(failures, errs, rig, d, name)


def report_failure(failures, errs, rig, d, name):
    if errs:
        failures.append("; ".join(errs) + f" (whole log: {keep_log(rig, d, name)})\n" + d.tail(25))


def resumed_within(errs, resume, bound, what="the broker's return"):
    rig_check(errs, resume is not None and resume <= bound,
              f"no delivery within {bound:.0f} s of {what} (resumed after {resume})")


def shown_resume(resume):
    return f"{resume:.1f}s" if resume is not None else "never"


def feed_then_freeze(ctx, broker, lives, errs, topic_name, name, what):
    """A new topic fed for 6 s, then the daemon frozen with the follower of its first life
    (in `lives`) at the topic's end. Returns (topic, daemon, probe, frozen s, None), or
    a failure in the last place if the daemon never connects."""
    rig = ctx["rig"]
    topic = broker.create_topic(rig.new_topic(topic_name), 3)
    lives.follow(broker.bootstrap, topic)
    d, probe, failure = start_feeding(ctx, broker, topic, harness.free_port(), name)
    if failure:
        return topic, None, None, 0.0, failure
    time.sleep(6)
    frozen, settled = freeze_and_settle(d, lives.last)
    rig_check(errs, settled, f"the follower did not reach the end of the first {what}")
    return topic, d, probe, frozen, None


# ---- 10. outage longer than the message timeout ------------------------------------------


def scenario_outage(ctx):
    """10. The broker stopped (SIGSTOP) longer than the message timeout (5 s): deliveries
    resume within 10 s of its return."""
    rig = ctx["rig"]
    outage = float(os.environ.get("E2E_OUTAGE_SECONDS", "15"))
    broker = rig.Tansu().start()
    failures, errs = [], []
    port = harness.free_port()
    try:
        topic = broker.create_topic(rig.new_topic("outage"), 3)
        d, probe, failure = start_feeding(ctx, broker, topic, port, "outage", KAFKA_PRODUCER_MESSAGE_TIMEOUT_MS="5000")
        if failure:
            return [failure]
        time.sleep(5)
        t_stop = time.monotonic()
        broker.pause()
        time.sleep(outage)
        broker.resume()
        t_back = time.monotonic()
        resume = await_resume(probe, t_back)
        during, during_body = probe.states(t_stop + 6, t_back)
        after, _ = probe.states(t_back + (resume or 0) + 1, time.monotonic())
        _, _, row = wind_up(errs, d, probe, read=lambda: rig.read_topic(broker.bootstrap, topic))
        resumed_within(errs, resume, RESUME_BOUND_S)
        conclude(failures, errs, rig, d, "outage", "10. Outage longer than the message timeout (SIGSTOP, 5 s timeout)",
                 ["outage s", "first delivery after return", "restarts", "producer events", "healthz/readyz during",
                  "readyz said", "after"],
                 [f"{outage:.0f}", shown_resume(resume), f"{probe.restarts():.0f}", fault_events(d), during,
                  during_body or "-", after], row)
    finally:
        broker.stop()
    return failures


# ---- 11. broker SIGKILLed and restarted on the same port ---------------------------------


def scenario_broker_kill(ctx):
    """11. The broker SIGKILLed under load and restarted on the same port 3 s later:
    deliveries resume; what was acknowledged is in the topic (summed over both lives)."""
    rig = ctx["rig"]
    down = float(os.environ.get("E2E_KILL_DOWN_SECONDS", "3"))
    broker = rig.Tansu().start()
    failures, errs = [], []
    lives = Lives()
    try:
        topic, d, probe, frozen, failure = feed_then_freeze(ctx, broker, lives, errs, "kill", "broker-kill", "life")
        if failure:
            return [failure]
        broker.kill()
        d.signal(signal.SIGCONT)
        t_kill = time.monotonic()
        time.sleep(down)
        delivered_life1 = probe.delivered_at(time.monotonic())
        broker = rig.Tansu(port=broker.port).start()
        broker.create_topic(topic, 3, exist_ok=True)  # the daemon's metadata request may have made it first
        t_back = time.monotonic()
        lives.follow(broker.bootstrap, topic)
        resume = await_resume(probe, t_back)
        during, during_body = probe.states(t_kill, t_back)
        _, founds, row = wind_up(errs, d, probe, lives)
        rig_check(errs, founds[0] >= delivered_life1,
                  f"first life: {delivered_life1} delivered but {founds[0]} in the topic")
        resumed_within(errs, resume, KILL_RESUME_BOUND_S)
        conclude(failures, errs, rig, d, "broker-kill", "11. Broker SIGKILLed under load, restarted on the same port",
                 ["down s", "daemon frozen s", "life 1 delivered / found", "life 2 found",
                  "first delivery after return", "restarts", "producer events", "healthz/readyz down", "readyz said"],
                 [f"{down:.0f}", f"{frozen:.1f}", f"{delivered_life1:.0f} / {founds[0]}", founds[1],
                  shown_resume(resume), f"{probe.restarts():.0f}", fault_events(d), during, during_body or "-"], row)
    finally:
        lives.close()
        broker.stop()
    return failures


# ---- 12. topic deleted and recreated ------------------------------------------------------


def scenario_topic_recreate(ctx):
    """12. The topic deleted under load and created again 3 s later: deliveries resume,
    the messages sent meanwhile fail with a reason."""
    rig = ctx["rig"]
    gone = float(os.environ.get("E2E_TOPIC_GONE_SECONDS", "3"))
    broker = rig.Tansu().start()
    failures, errs = [], []
    lives = Lives()
    try:
        topic, d, probe, frozen, failure = feed_then_freeze(ctx, broker, lives, errs, "recreate", "topic-recreate",
                                                            "topic")
        if failure:
            return [failure]
        lives.last.close()
        broker.delete_topic(topic)
        d.signal(signal.SIGCONT)
        t_del = time.monotonic()
        time.sleep(gone)
        delivered_at_del = probe.delivered_at(t_del)
        try:
            broker.create_topic(topic, 3)
            recreated = "by the test"
        except RuntimeError as e:  # tansu may have created it on a producer's metadata request
            recreated = f"already there ({str(e).strip()[-60:]})"
        t_back = time.monotonic()
        # Acknowledged while no topic existed: tansu's answer to a produce for a deleted topic.
        delivered_gone = probe.delivered_at(t_back) - delivered_at_del
        lives.follow(broker.bootstrap, topic)
        resume = await_resume(probe, t_back)
        during, during_body = probe.states(t_del, t_back)
        stopped, founds, row = wind_up(errs, d, probe, lives, vanished_ok=delivered_gone)
        resumed_within(errs, resume, RESUME_BOUND_S, "the topic's return")
        missing = int(stopped.get("delivered", 0)) - sum(founds)
        if missing > 0 and missing <= delivered_gone:
            # tansu 0.6.0 acknowledges produce requests for a deleted topic; Apache Kafka
            # answers UNKNOWN_TOPIC_OR_PARTITION. See docs/reliability.md.
            note = (f"known tansu limitation: {delivered_gone:.0f} messages acknowledged while the topic did not "
                    f"exist, {missing} of them in no topic")
            log_note(ctx, "12 topic-recreate", note)
        conclude(failures, errs, rig, d, "topic-recreate", "12. Topic deleted under load and created again",
                 ["gone s", "recreated", "delivered while gone", "topic 1 found", "topic 2 found",
                  "first delivery after return", "restarts", "producer events", "healthz/readyz gone", "readyz said"],
                 [f"{gone:.0f}", recreated, f"{delivered_gone:.0f}", founds[0], founds[1], shown_resume(resume),
                  f"{probe.restarts():.0f}", fault_events(d), during, during_body or "-"], row)
    finally:
        lives.close()
        broker.stop()
    return failures


# ---- 13. chaos -----------------------------------------------------------------------------


def scenario_chaos(ctx):
    """13. Every 20-60 s the broker is stalled (SIGSTOP 2-15 s) or killed and restarted
    (down 1-8 s); SIGTERM ends the daemon at a random moment of the second half, put off
    when it would come before a fault's resume bound has passed (the resume could not be
    seen). The counts are reconciled over every life of the broker."""
    rig = ctx["rig"]
    seconds = float(os.environ.get("E2E_CHAOS_SECONDS", "600"))
    rng = random.Random(ctx["seed"] + 12)
    broker = rig.Tansu().start()
    failures, errs = [], []
    port = harness.free_port()
    lives = Lives()
    faults = []  # (kind, length s, first delivery after the return or None)
    try:
        topic = broker.create_topic(rig.new_topic("chaos"), 3)
        lives.follow(broker.bootstrap, topic)
        d, probe, failure = start_feeding(ctx, broker, topic, port, "chaos", rss_every=1.0,
                                          KAFKA_PRODUCER_MESSAGE_TIMEOUT_MS="10000")
        if failure:
            return [failure]
        t0 = time.monotonic()
        t_term = t0 + rng.uniform(seconds / 2, seconds)
        next_fault = t0 + rng.uniform(20, 60)
        term_during = "traffic"
        ended = None
        while True:
            now = time.monotonic()
            if now >= t_term:
                break
            if now < next_fault:
                time.sleep(min(0.1, next_fault - now, t_term - now))
                continue
            if rng.random() < 0.5:
                length = rng.uniform(2, 15)
                broker.pause()
                end = time.monotonic() + length
                while time.monotonic() < min(end, t_term):
                    time.sleep(0.05)
                if time.monotonic() >= t_term:
                    term_during = "stall"
                    running = d.alive()
                    code, _ = d.terminate(40)  # SIGTERM while the broker is stopped
                    ended = (running, code)
                    broker.resume()
                    faults.append(("stall", length, None))
                    break
                broker.resume()
                faults.append(("stall", length, time.monotonic()))
                # The resume check needs the daemon running for its bound after the return.
                t_term = max(t_term, time.monotonic() + RESUME_BOUND_S + 1)
            else:
                length = rng.uniform(1, 8)
                frozen, settled = freeze_and_settle(d, lives.last)
                rig_check(errs, settled, f"fault {len(faults) + 1}: the follower did not reach the end")
                lives.last.close()
                broker.kill()
                d.signal(signal.SIGCONT)
                end = time.monotonic() + length
                while time.monotonic() < min(end, t_term):
                    time.sleep(0.05)
                broker = rig.Tansu(port=broker.port).start()
                broker.create_topic(topic, 3, exist_ok=True)
                lives.follow(broker.bootstrap, topic)
                if time.monotonic() >= t_term:
                    term_during = "restart"
                    faults.append(("kill", length, None))
                    break
                faults.append(("kill", length, time.monotonic()))
                t_term = max(t_term, time.monotonic() + KILL_RESUME_BOUND_S + 1)
            next_fault = time.monotonic() + rng.uniform(20, 60)
        elapsed = time.monotonic() - t0
        seen, said = probe.states(t0, time.monotonic())
        _, founds, row = wind_up(errs, d, probe, lives, ended=ended)
        resumes = []
        for i, (kind, length, t_back) in enumerate(faults):
            if t_back is None:
                continue
            r = probe.first_delivery_after(t_back)
            resumes.append(r)
            bound = KILL_RESUME_BOUND_S if kind == "kill" else RESUME_BOUND_S
            rig_check(errs, r is not None and r <= bound,
                      f"fault {i + 1} ({kind} {length:.0f} s): no delivery within {bound:.0f} s "
                      f"of the return ({r})")
        rss = [k for _, k in d.rss]
        shown = " ".join(f"{k}{ln:.0f}s" for k, ln, _ in faults) or "none"
        worst = max((r for r in resumes if r is not None), default=None)
        conclude(failures, errs, rig, d, "chaos", f"13. Chaos ({elapsed:.0f} s, seed {ctx['seed']})",
                 ["faults", "SIGTERM during", "longest return -> delivery", "never resumed", "restarts",
                  "producer events", "healthz/readyz seen", "last readyz 503", "lives found", "RSS MiB max"],
                 [shown, term_during, f"{worst:.1f}s" if worst is not None else "-",
                  sum(1 for r in resumes if r is None), f"{probe.restarts():.0f}", fault_events(d), seen,
                  said or "-", "+".join(str(f) for f in founds), f"{max(rss, default=0) / 1024:.1f}"], row)
    finally:
        lives.close()
        broker.stop()
    return failures


SCENARIOS = [
    ("10", "outage", scenario_outage),
    ("11", "broker-kill", scenario_broker_kill),
    ("12", "topic-recreate", scenario_topic_recreate),
    ("13", "chaos", scenario_chaos),
]
