"""Start, stop and restart the GStreamer RTSP test server (tests/core/rtsp_server.py).

The server needs python3-gi, which only the system python has, so it runs as a subprocess of
`/usr/bin/python3` on 127.0.0.1. The first start lets the server pick a free port (no socket is
opened here, so it works under pytest-socket); `start()` returns once the server printed
`READY <port>`, which it does after it listens. `stop()` ends it (SIGTERM, then SIGKILL);
`restart()` starts it again on the same port (clients see the camera come back).

    server = RtspServer(files={"/cam": clip_path}, user="admin", password="secret")
    server.start()
    ... server.url("/cam") ...
    server.stop()

Test modules wrap it in fixtures that stop every server they started.
"""

from __future__ import annotations

import select
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Self

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")


def gstreamer_available() -> bool:
    """True when the system python can import GstRtspServer."""
    if shutil.which(SYSTEM_PYTHON) is None:
        return False
    done = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); "
            "from gi.repository import GstRtspServer",
        ],
        capture_output=True,
        check=False,
        timeout=30,
    )
    return done.returncode == 0


class RtspServer:
    """One RTSP server subprocess, restartable on the same port."""

    def __init__(
        self,
        *,
        files: dict[str, Path] | None = None,
        patterns: dict[str, str] | None = None,
        user: str | None = None,
        password: str | None = None,
        port: int | None = None,
    ) -> None:
        self.files = dict(files or {})
        self.patterns = dict(patterns or {})
        self.user = user
        self.password = password
        # 0 until the first start: the server picks a free port and keeps it on restarts.
        self.port = port or 0
        self._process: subprocess.Popen[str] | None = None
        self._stderr: tempfile._TemporaryFileWrapper[str] | None = None

    def url(self, mount: str, *, user: str | None = None, password: str | None = None) -> str:
        """rtsp://[user:password@]127.0.0.1:PORT/mount."""
        auth = f"{user}:{password}@" if user else ""
        return f"rtsp://{auth}127.0.0.1:{self.port}{mount}"

    @property
    def pid(self) -> int:
        """Process id of the running server (to pause it with SIGSTOP, as a stalled camera)."""
        assert self._process is not None
        return self._process.pid

    @property
    def running(self) -> bool:
        """True while the subprocess lives."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 20.0) -> Self:
        """Start the server; return once it listens (on the same port as before, if any)."""
        if self.running:
            return self
        command = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--port", str(self.port)]
        for mount, path in self.files.items():
            command += ["--file", f"{mount}={path}"]
        for mount, spec in self.patterns.items():
            command += ["--pattern", f"{mount}={spec}"]
        if self.user:
            command += ["--user", self.user, "--password", self.password or ""]
        self._stderr = tempfile.NamedTemporaryFile(mode="w+", suffix=".log")  # noqa: SIM115
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self._process = process
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        # "READY <port>" once listening (EOF when it failed)
        line = process.stdout.readline() if ready else "timed out"
        if not line.startswith("READY"):
            stderr = self.stderr()
            self.stop()
            raise RuntimeError(f"RTSP server did not start: {line!r} {stderr[-2000:]}")
        self.port = int(line.split()[1])
        return self

    def stop(self) -> None:
        """Stop the server (its clients lose the connection)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def stderr(self) -> str:
        """What the server wrote to stderr so far (for failure messages)."""
        if self._stderr is None:
            return ""
        self._stderr.flush()
        with open(self._stderr.name, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def restart(self) -> Self:
        """Stop, then start again on the same port."""
        self.stop()
        return self.start()
