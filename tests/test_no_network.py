"""Loading and running the model never touches the network, even with the hub's offline switches unset.

A child process runs with ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` removed from its
environment, an empty ``HF_HOME``, and a ``sitecustomize`` socket guard (inherited by the ONNX
export's own child process) that logs and refuses every non-unix connect and DNS look-up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

GUARD = textwrap.dedent(
    """
    import os, socket

    _LOG = os.environ["MEMMIMIC_NET_LOG"]
    _connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex

    def _record(what):
        with open(_LOG, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()} {what}\\n")

    def _guarded(original):
        def guard(self, address):
            if self.family == getattr(socket, "AF_UNIX", None):
                return original(self, address)
            _record(f"connect {address!r}")
            raise OSError("network access blocked by test_no_network")
        guard.__name__ = "memmimic_socket_guard"
        return guard

    def _no_dns(*args, **kwargs):
        _record(f"getaddrinfo {args[:2]!r}")
        raise socket.gaierror("DNS blocked by test_no_network")

    socket.socket.connect = _guarded(_connect)
    socket.socket.connect_ex = _guarded(_connect_ex)
    socket.getaddrinfo = _no_dns
    """
)

CHILD = textwrap.dedent(
    """
    import socket, sys
    assert socket.socket.connect.__name__ == "memmimic_socket_guard", "guard not installed"
    from memmimic_plugins.minilm import SentenceTransformersEmbedder as E
    for options in (E.Options(runtime="torch"), E.Options(runtime="onnx", cache_dir=sys.argv[1])):
        vectors = E(options).embed(["no network needed", "second sentence"])
        assert vectors.shape == (2, 384), vectors.shape
    print("ok")
    """
)


@pytest.mark.model
@pytest.mark.slow
def test_loading_and_embedding_make_no_network_access(tmp_path: Path) -> None:
    guard_dir = tmp_path / "guard"
    guard_dir.mkdir()
    (guard_dir / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    log = tmp_path / "network.log"
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(guard_dir), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        MEMMIMIC_NET_LOG=str(log),
        HF_HOME=str(tmp_path / "hf-home"),
    )
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "models")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "ok"
    assert list((tmp_path / "models").glob("*.onnx")), "the ONNX export ran under the guard"
    attempts = log.read_text(encoding="utf-8") if log.exists() else ""
    assert attempts == "", f"network access attempted:\n{attempts}"


def test_the_guard_catches_a_connection(tmp_path: Path) -> None:
    guard_dir = tmp_path / "guard"
    guard_dir.mkdir()
    (guard_dir / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    log = tmp_path / "network.log"
    env = {**os.environ, "PYTHONPATH": str(guard_dir), "MEMMIMIC_NET_LOG": str(log)}
    code = "import socket\ntry:\n    socket.socket().connect(('192.0.2.1', 80))\nexcept OSError:\n    pass\n"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    assert "connect ('192.0.2.1', 80)" in log.read_text(encoding="utf-8")
