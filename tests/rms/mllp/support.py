"""Helpers for the MLLP tests: a real MllpServer on 127.0.0.1 in a background thread with its
own event loop, raw-socket readers, and throwaway TLS certificates.

pytest-asyncio is deliberately not used: the tests stay synchronous and talk to the server over
real TCP sockets, as a lab system would.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devtools.mllp_client import MllpClient
from rms.mllp import FrameDecoder, MllpServer, PeerInfo


def echo(message: bytes, peer: PeerInfo) -> bytes:
    return message


class RunningServer:
    def __init__(self, server: MllpServer) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._stopped = False

    def start(self) -> None:
        self._thread.start()
        self.run(self.server.start())

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
        return self.submit(coro).result(timeout)

    @property
    def port(self) -> int:
        return self.server.port

    def client(self, **options: Any) -> MllpClient:
        options.setdefault("timeout_s", 5.0)
        return MllpClient("127.0.0.1", self.port, **options)

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5.0)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            self.run(self.server.close(grace_s=2.0))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5.0)
            self.loop.close()


StartServer = Callable[..., RunningServer]


def send_from_clients(server: RunningServer, clients: int, messages: int) -> list[list[bytes]]:
    """``clients`` connections at once, each sending ``messages`` messages
    (``b"client N message M"``) and reading each reply: the replies, by client."""

    def sender(n: int) -> list[bytes]:
        with server.client() as client:
            return [client.send(b"client %d message %d" % (n, i)) for i in range(messages)]

    with concurrent.futures.ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(sender, range(clients)))


def read_frames(sock: socket.socket, count: int, timeout: float = 5.0) -> list[bytes]:
    """Read exactly ``count`` framed replies from a raw socket."""
    decoder = FrameDecoder(1024 * 1024)
    replies: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(replies) < count:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        data = sock.recv(65536)
        assert data, f"connection closed after {len(replies)} of {count} replies"
        replies += decoder.feed(data)
    assert len(replies) == count
    return replies


def is_closed_by_peer(sock: socket.socket, timeout: float = 3.0) -> bool:
    """True if the peer closes (FIN or RST) without sending anything within ``timeout``."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(65536)
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    assert data == b"", f"expected the connection to close, got {len(data)} bytes"
    return True


def wait_until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


_OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def _openssl(directory: Path, command: str) -> None:
    executable = shutil.which("openssl")
    if executable is None:
        pytest.skip("the openssl command-line tool is needed to make test certificates")
    subprocess.run(  # noqa: S603 (fixed arguments, files in a temporary directory)
        [executable, *command.split()], cwd=directory, check=True, capture_output=True
    )


_KEY = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"


def make_certificates(d: Path) -> Certificates:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate (CN lab-system).

    Made with the openssl command-line tool because the ``cryptography`` package is not installed.
    """
    (d / "openssl.cnf").write_text(_OPENSSL_CONFIG)
    _openssl(
        d,
        f"req -x509 -config openssl.cnf -extensions ca_ext {_KEY} -keyout ca.key -out ca.pem"
        " -days 2 -subj /CN=rms-test-ca",
    )
    for name, common_name, serial in (("server", "localhost", 2), ("client", "lab-system", 3)):
        _openssl(
            d,
            f"req -new -config openssl.cnf {_KEY} -keyout {name}.key -out {name}.csr"
            f" -subj /CN={common_name}",
        )
        _openssl(
            d,
            f"x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -set_serial {serial} -days 2"
            f" -extfile openssl.cnf -extensions {name}_ext -out {name}.pem",
        )
    return Certificates(
        ca=d / "ca.pem",
        server_cert=d / "server.pem",
        server_key=d / "server.key",
        client_cert=d / "client.pem",
        client_key=d / "client.key",
    )
