"""The real system around the Python bindings, and a phone built on them.

- ``KaksikServer``: a ``kaksik serve`` on a temporary data directory, the
  operator's ``kaksik admin`` commands, and relying parties as ``kaksik rp
  … auth|sign`` processes, which verify the signature, the certificate
  chain and the person before they exit 0.
- ``FileStore`` and ``PyDeviceKey``: what a Python app provides, a
  ``SecureStore`` over files and a ``DeviceKey`` over a P-256 key of the
  ``cryptography`` package.
- ``Phone``: the generated ``Authenticator`` over those two.

Shared by ``conftest.py`` (the tests' fixtures) and ``bench_ffi.py``.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
# Where bindings/generate.sh put kaksik.py and the library, and the
# kaksik binary of the same build.
BINDINGS = Path(os.environ.get("KAKSIK_BINDINGS", TARGET / "bindings" / "debug"))
KAKSIK_BIN = os.environ.get("KAKSIK_BIN", str(TARGET / "debug" / "kaksik"))

sys.path.insert(0, str(BINDINGS / "python"))

import kaksik  # noqa: E402  (generated; found through the path above)

# How long a line from a child process may take before the harness gives
# up: a guard against hangs, not a measurement.
LINE_WAIT_SECONDS = 120

PIN1 = b"2580"
PIN2 = b"14703"


@dataclass(frozen=True)
class Person:
    country: str
    national_id: str
    given_name: str
    surname: str

    @property
    def semantics_id(self) -> str:
        return f"PNO{self.country}-{self.national_id}"


MARI = Person("EE", "38001085718", "MARI", "MAASIKAS")


class Child:
    """A child process whose stdout lines are collected as they come."""

    _EOF = object()

    def __init__(self, command: list[str], log: Path):
        self._log = log
        self._stderr = open(log, "ab")
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self._stderr, text=True
        )
        self._lines: queue.Queue = queue.Queue()
        self._all: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._all.append(line)
            self._lines.put(line.rstrip("\n"))
        self._lines.put(self._EOF)

    def await_line(self, prefix: str) -> str:
        """The rest of the next line that starts with ``prefix``."""
        while True:
            try:
                line = self._lines.get(timeout=LINE_WAIT_SECONDS)
            except queue.Empty:
                raise AssertionError(f"no line {prefix!r}; log:\n{self._log.read_text()}")
            if line is self._EOF:
                raise AssertionError(f"exited without {prefix!r}; log:\n{self._log.read_text()}")
            if line.startswith(prefix):
                return line[len(prefix):]

    def finish(self) -> tuple[int, str, str]:
        """Waits for the exit: its status, its stdout, its stderr."""
        status = self.process.wait(timeout=LINE_WAIT_SECONDS * 5)
        self._reader.join()
        self._stderr.close()
        return status, "".join(self._all), self._log.read_text()


class RelyingParty:
    """A ``kaksik rp`` session in progress."""

    def __init__(self, child: Child):
        self._child = child
        self.verification_code = child.await_line("verification code: ")

    def finish(self) -> tuple[int, str, str]:
        return self._child.finish()


class KaksikServer:
    """A running ``kaksik serve`` on a fresh data directory."""

    def __init__(self) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="kaksik-python-"))
        self.data_dir = self.work / "server"
        self._server = Child(
            [KAKSIK_BIN, "serve", "--data-dir", str(self.data_dir), "--listen", "127.0.0.1:0"],
            self.work / "serve.log",
        )
        self.url = self._server.await_line("kaksik server listening on ")
        self.spki_pin = self._server.await_line("spki-pin ")
        self._logs = 0

    def temp_dir(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=name, dir=self.work))

    def _log(self, name: str) -> Path:
        self._logs += 1
        return self.work / f"{name}-{self._logs}.log"

    def admin(self, *args: str) -> str:
        child = Child([KAKSIK_BIN, "admin", "--data-dir", str(self.data_dir), *args], self._log("admin"))
        status, out, err = child.finish()
        assert status == 0, f"kaksik admin {args[0]} failed: {err}"
        return out

    def enrol(self, person: Person) -> str:
        out = self.admin(
            "enrol", "--country", person.country, "--id", person.national_id,
            "--given-name", person.given_name, "--surname", person.surname,
        )
        return out.splitlines()[0]

    def confirm(self, enrolment: str, registration_code: str) -> None:
        self.admin("confirm", "--enrolment", enrolment, "--registration-code", registration_code)

    def _rp(self, *args: str) -> RelyingParty:
        command = [KAKSIK_BIN, "rp", "--server", self.url, "--spki-pin", self.spki_pin, *args]
        return RelyingParty(Child(command, self._log("rp")))

    def rp_auth(self, person: Person, text: str) -> RelyingParty:
        return self._rp("auth", "--id", person.semantics_id, "--text", text)

    def rp_sign(self, document: str, file: Path, out: Path) -> RelyingParty:
        return self._rp("sign", "--document", document, "--file", str(file), "--out", str(out))

    def close(self) -> None:
        self._server.process.terminate()
        self._server.finish()
        shutil.rmtree(self.work, ignore_errors=True)


class FileStore(kaksik.SecureStore):
    """One file per key; a write is a flushed temporary file renamed over
    the old one, so a crash leaves the old value or the new one. Temporary
    names start with a dot, which no store key does."""

    def __init__(self, directory: Path):
        self._dir = directory
        self._dir.mkdir(parents=True, exist_ok=True)

    def get(self, key: str) -> bytes | None:
        try:
            return (self._dir / key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise kaksik.PlatformError.Failed(f"cannot read {key}: {type(error).__name__}")

    def put(self, key: str, value: bytes) -> None:
        try:
            fd, temp = tempfile.mkstemp(prefix=".tmp-", dir=self._dir)
            with os.fdopen(fd, "wb") as file:
                file.write(value)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, self._dir / key)
        except OSError as error:
            raise kaksik.PlatformError.Failed(f"cannot write {key}: {type(error).__name__}")

    def delete(self, key: str) -> None:
        try:
            (self._dir / key).unlink(missing_ok=True)
        except OSError as error:
            raise kaksik.PlatformError.Failed(f"cannot delete {key}: {type(error).__name__}")


class PyDeviceKey(kaksik.DeviceKey):
    """A P-256 key of the ``cryptography`` package: the public key as a
    SEC1 uncompressed point, signatures ECDSA over SHA-256 in DER."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())

    def public_key(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message, ec.ECDSA(hashes.SHA256()))


class Phone:
    """The generated ``Authenticator`` in its own home directory."""

    def __init__(self, server: KaksikServer, home: Path):
        self._server = server
        config = kaksik.ClientConfig(server_url=server.url, tls_spki_pin=server.spki_pin)
        self.authenticator = kaksik.Authenticator(config, FileStore(home), PyDeviceKey())

    async def register(self, person: Person) -> kaksik.AccountInfo:
        """Enrolment, the operator's confirmation, both PINs verified."""
        enrolment = self._server.enrol(person)
        started = await self.authenticator.start_registration(enrolment)
        self._server.confirm(enrolment, started.registration_code)
        assert await self.authenticator.wait_for_confirmation(60)
        await self.authenticator.finish_registration(PIN1, PIN2)
        return await self.authenticator.verify_pins(PIN1, PIN2)

    async def next_transaction(self) -> kaksik.TransactionSummary:
        """The next transaction in the inbox, long-polling for it."""
        for _ in range(10):
            pending = await self.authenticator.pending_transactions(30)
            if pending:
                return pending[0]
        raise AssertionError("no transaction arrived")
