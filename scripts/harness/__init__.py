"""Process harness shared by the end-to-end suite (scripts/e2e/: rig.py, faults.py,
tls_sasl.py) and the benchmark (scripts/bench/: bench.py, pacing.py):
- procs.py: child processes with timestamped output, the daemon (`Feeder`), port
  finding, resident memory and CPU from /proc, HTTP probes, tables;
- services.py: the tansu broker, the s3s-fs S3 server and the schema registry
  (karapace), each a process on 127.0.0.1.

Python 3 standard library only (the benchmark runs without a venv).
"""

from .procs import (PROCS, Feeder, Proc, cpu_seconds, env_with, event_is, free_port, http_get,
                    kill_all, metric, peak_rss_bytes, render_table, rss_kib, table, wait_port)
from .services import (S3, KARAPACE_SOURCE, SCHEMA_REGISTRY_DIR, TANSU_WHEEL_BIN, SchemaRegistry,
                       Tansu, tansu_binary)

__all__ = ["PROCS", "Feeder", "Proc", "cpu_seconds", "env_with", "event_is", "free_port", "http_get", "kill_all",
           "metric", "peak_rss_bytes", "render_table", "rss_kib", "table", "wait_port", "S3", "KARAPACE_SOURCE",
           "SCHEMA_REGISTRY_DIR", "TANSU_WHEEL_BIN", "SchemaRegistry", "Tansu", "tansu_binary"]
