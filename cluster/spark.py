"""`python -m cluster up|down|status`: a Spark standalone cluster on 127.0.0.1.

A master, `SPARK_WORKERS` workers (2) of one core each, and the Spark Thrift Server
(HiveServer2) that dbt-spark's `thrift` method connects to, as teams connect to a shared
cluster. pyspark's PyPI package carries the jars (the Thrift server and Hive's embedded Derby
metastore included) but not the start scripts: each daemon is started here through its
`spark-class` / `spark-submit`, in a session of its own, its PID and log under `.spark/`
(`SPARK_STATE_DIR`). Every port binds to 127.0.0.1; the application UI is off. The metastore
(`.spark/metastore_db`) and the tables' files (`.spark/warehouse`) outlive the cluster.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cluster.hive_shim import JAR, write_llap_signable_jar

REPO_ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
STARTUP_SECONDS = 180.0
# HotSpot's optimizing compiler (C2) only for code that stays hot: each of its tier-4
# thresholds 10x the JVM's default. Spark generates and compiles new classes for every query
# (whole-stage codegen), and on a dbt build of many small queries C2 spent more CPU compiling
# them than the executors spent running tasks (a whole build of the project at 2k orders:
# 113 of the cluster's 225 CPU seconds, against 34 running tasks), on a machine where the
# cluster shares two cores with dbt. Loops over millions of rows still reach C2.
# `SPARK_JIT_OPTIONS=""` runs the JVM's defaults (`make bench`: spark-jit).
JIT_OPTIONS = (
    "-XX:Tier4InvocationThreshold=50000 -XX:Tier4MinInvocationThreshold=6000 "
    "-XX:Tier4CompileThreshold=150000 -XX:Tier4BackEdgeThreshold=400000"
)


def state_dir() -> Path:
    path = Path(os.environ.get("SPARK_STATE_DIR", ".spark"))
    return path if path.is_absolute() else REPO_ROOT / path


def port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


@dataclass(frozen=True)
class Daemon:
    name: str
    command: list[str]
    port: int  # answers once the daemon is up

    @property
    def pid_file(self) -> Path:
        return state_dir() / "pids" / f"{self.name}.pid"

    def pid(self) -> int | None:
        """The daemon's PID while it runs (a PID file left by a crash, its number reused by
        another program, is not it: the process must be this daemon's JVM)."""
        try:
            pid = int(self.pid_file.read_text())
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        main_class = (
            self.command[self.command.index("--class") + 1]
            if "--class" in self.command
            else self.command[1]
        )
        return pid if main_class.encode() in command else None


def master_url() -> str:
    return f"spark://{HOST}:{port('SPARK_MASTER_PORT', 7077)}"


def daemons() -> list[Daemon]:
    home, state = spark_home(), state_dir()
    spark_class = [str(home / "bin" / "spark-class")]
    workers = int(os.environ.get("SPARK_WORKERS", "2"))
    master_port = port("SPARK_MASTER_PORT", 7077)
    listed = [
        Daemon(
            "master",
            [
                *spark_class,
                "org.apache.spark.deploy.master.Master",
                "--host",
                HOST,
                "--port",
                str(master_port),
                "--webui-port",
                str(port("SPARK_MASTER_UI_PORT", 8090)),
            ],
            master_port,
        )
    ]
    for number in range(1, workers + 1):
        worker_port = port("SPARK_WORKER_PORT", 7078) + number - 1
        listed.append(
            Daemon(
                f"worker-{number}",
                [
                    *spark_class,
                    "org.apache.spark.deploy.worker.Worker",
                    master_url(),
                    "--host",
                    HOST,
                    "--port",
                    str(worker_port),
                    "--cores",
                    "1",
                    "--memory",
                    os.environ.get("SPARK_WORKER_MEMORY", "2g"),
                    "--webui-port",
                    str(port("SPARK_WORKER_UI_PORT", 8091) + number - 1),
                    "--work-dir",
                    str(state / "work"),
                ],
                worker_port,
            )
        )
    thrift_port = port("SPARK_THRIFT_PORT", 10000)
    jit = os.environ.get("SPARK_JIT_OPTIONS", JIT_OPTIONS)
    conf = {
        "spark.driver.bindAddress": HOST,
        "spark.driver.host": HOST,
        "spark.ui.enabled": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.cores.max": str(workers),
        "spark.executor.cores": "1",
        "spark.executor.memory": os.environ.get("SPARK_EXECUTOR_MEMORY", "1g"),
        # Shuffles split into a few tasks per core, not Spark's default of 200: on small
        # and mid-sized builds the per-task overhead of 200 dominated (each dbt test took
        # twice as long). Raise it for data much larger than the cluster's memory.
        "spark.sql.shuffle.partitions": os.environ.get(
            "SPARK_SHUFFLE_PARTITIONS", str(4 * workers)
        ),
        # A table of more than 32 partition folders was listed by a Spark job of one task
        # per folder, on every query that read it (the 90-day marts: 25 such jobs, 2,250 of
        # a small build's 2,718 tasks). The files are on this machine's disk: the driver
        # lists them in milliseconds. (On object storage with thousands of partitions, the
        # parallel listing pays; a shared cluster keeps Spark's default.)
        "spark.sql.sources.parallelPartitionDiscovery.threshold": "100000",
        "spark.sql.warehouse.dir": str(state / "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={state / 'metastore_db'};create=true"
        ),
        # The driver's temporary files under the state folder, not /tmp: Hive's session
        # folders default to it (`<session>_resources`, `<user>`) and outlive the cluster.
        "spark.driver.extraJavaOptions": (
            f"-Dderby.system.home={state} -Djava.io.tmpdir={state / 'tmp'} {jit}"
        ).strip(),
        # Closing a session may initialize Hive's function registry (cluster/hive_shim.py).
        "spark.driver.extraClassPath": str(state / "jars" / JAR),
    }
    if jit:
        conf["spark.executor.extraJavaOptions"] = jit
    listed.append(
        Daemon(
            "thrift-server",
            [
                str(home / "bin" / "spark-submit"),
                "--class",
                "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
                "--master",
                master_url(),
                "--name",
                "jaffle-thrift-server",
                *(arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")),
                "--hiveconf",
                f"hive.server2.thrift.bind.host={HOST}",
                "--hiveconf",
                f"hive.server2.thrift.port={thrift_port}",
                "spark-internal",
            ],
            thrift_port,
        )
    )
    return listed


def answers(port_number: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((HOST, port_number)) == 0


def java_missing_reason() -> str | None:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java found; Spark needs Java 17 (apt-get install openjdk-17-jre-headless)"
    return None


def check_java() -> None:
    if reason := java_missing_reason():
        raise SystemExit(f"cluster: {reason}")


def up() -> int:
    check_java()
    state = state_dir()
    (state / "pids").mkdir(parents=True, exist_ok=True)
    (state / "logs").mkdir(parents=True, exist_ok=True)
    (state / "tmp").mkdir(parents=True, exist_ok=True)
    write_llap_signable_jar(state / "jars")
    env = {
        **os.environ,
        "SPARK_LOCAL_IP": HOST,
        "SPARK_HOME": str(spark_home()),
        # The master's REST submission port (6066) is not needed: jobs come through the
        # Thrift server. Off, so nothing else listens.
        "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false -Dspark.port.maxRetries=0",
        # A daemon whose port is taken fails at once, not on the next port, where nobody
        # waits for it.
        "SPARK_WORKER_OPTS": "-Dspark.port.maxRetries=0",
    }
    # The master first; then the workers and the Thrift server at once: the workers register
    # with the master, and the Thrift server's application takes their cores as they come.
    # (One after another, a start of the default cluster took 23 s here; the Thrift server's
    # own start is most of it.)
    master, *others = daemons()
    for phase in ([master], others):
        started = []
        for daemon in phase:
            if daemon.pid() is not None:
                print(f"cluster: {daemon.name} already running (pid {daemon.pid()})")
                continue
            if answers(daemon.port):
                raise SystemExit(f"cluster: port {daemon.port} is taken; set its SPARK_*_PORT")
            started.append((daemon, launch(daemon, state, env)))
        for daemon, process in started:
            wait_for(daemon, process)
            print(
                f"cluster: {daemon.name} up on {HOST}:{daemon.port} (pid {process.pid})",
                flush=True,
            )
    print(f"cluster: Thrift server (HiveServer2) on {HOST}:{port('SPARK_THRIFT_PORT', 10000)}")
    return 0


def launch(daemon: Daemon, state: Path, env: dict[str, str]) -> subprocess.Popen:
    """`daemon` started in a session of its own, its output to its log, its PID recorded."""
    log = (state / "logs" / f"{daemon.name}.log").open("ab")
    process = subprocess.Popen(
        daemon.command,
        cwd=state,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    daemon.pid_file.write_text(str(process.pid))
    return process


def wait_for(daemon: Daemon, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not answers(daemon.port):
        if process.poll() is not None or time.monotonic() > deadline:
            log = state_dir() / "logs" / f"{daemon.name}.log"
            tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-5:])
            down()
            raise SystemExit(f"cluster: {daemon.name} did not start: {tail}")
        time.sleep(0.2)


def down() -> int:
    for daemon in reversed(daemons()):
        pid = daemon.pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while daemon.pid() is not None and time.monotonic() < deadline:
                time.sleep(0.2)
            if daemon.pid() is not None:
                os.kill(pid, signal.SIGKILL)
            print(f"cluster: {daemon.name} stopped (pid {pid})")
        daemon.pid_file.unlink(missing_ok=True)
    return 0


def status() -> int:
    running = 0
    for daemon in daemons():
        pid = daemon.pid()
        running += pid is not None
        state = f"pid {pid}, port {daemon.port}" if pid else "stopped"
        print(f"cluster: {daemon.name}: {state}")
    return 0 if running else 1


def main(argv: list[str]) -> int:
    commands = {"up": up, "down": down, "status": status}
    if len(argv) != 1 or argv[0] not in commands:
        print("usage: python -m cluster up|down|status", file=sys.stderr)
        return 2
    return commands[argv[0]]()
