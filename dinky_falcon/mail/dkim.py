"""DKIM: each message signed with dkimpy as it is sent, with a key read once at start.

The key is a PEM file (RSA, RFC 8301; or Ed25519, RFC 8463) in any form ``openssl`` or
``dinky-mail dkim-keygen`` writes; ``cryptography`` reads it and hands dkimpy the form it
takes (PKCS#1 PEM for RSA, the base64 seed for Ed25519). Signing works on the bytes the
transports send: the DKIM-Signature header is put in front of them, so the prebuilt bytes of
the common message are signed without being flattened again.
"""

from __future__ import annotations

import base64
import errno
import logging
import os
import stat
import threading
from dataclasses import dataclass
from email.utils import getaddresses

from ..errors import ConfigError

log = logging.getLogger(__name__)

KEY_TYPES = ("rsa", "ed25519")
RSA_BITS = 2048
MIN_RSA_BITS = 1024  # RFC 8301: verifiers refuse smaller keys
MAX_KEY_FILE_BYTES = 64 * 1024  # a 4096-bit RSA key in PEM is about 3.3 kB
# Signed when present (RFC 6376 §5.4.1), each as often as it appears; From once more, so that
# nobody can add a second From the signature would not cover ("over-signing").
SIGNED_HEADERS = (
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "reply-to",
    "mime-version",
    "content-type",
    "in-reply-to",
    "references",
    "list-unsubscribe",
)


@dataclass(frozen=True)
class SigningKey:
    """A private key in the form dkimpy signs with, and what DNS must publish for it."""

    kind: str  # "rsa" or "ed25519": the record's k= tag
    private: bytes = b""
    public: str = ""  # base64, the record's p= tag

    @property
    def algorithm(self) -> bytes:
        return b"rsa-sha256" if self.kind == "rsa" else b"ed25519-sha256"

    @property
    def record(self) -> str:
        """The TXT record of the key (RFC 6376 §3.6.1)."""
        return f"v=DKIM1; k={self.kind}; p={self.public}"


def generate_key_pem(kind: str) -> bytes:
    """A new private key, PKCS#8 PEM (what ``openssl genpkey`` writes)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    key = (
        rsa.generate_private_key(65537, RSA_BITS)
        if kind == "rsa"
        else ed25519.Ed25519PrivateKey.generate()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def signing_key(pem: bytes) -> SigningKey:
    """The key in ``pem``; ValueError says why it cannot sign."""
    # cryptography and dkimpy cost 12 MB of memory: imported only where a key is used.
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise ValueError("the key is encrypted: write it without a passphrase") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("not a PEM private key (RSA or Ed25519)") from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise ValueError(f"the RSA key has {key.key_size} bits; receivers want {RSA_BITS}")
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,  # PKCS#1: what dkimpy parses
            serialization.NoEncryption(),
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return SigningKey("rsa", private, base64.b64encode(public).decode())
    if isinstance(key, ed25519.Ed25519PrivateKey):
        seed = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return SigningKey("ed25519", base64.b64encode(seed), base64.b64encode(public).decode())
    raise ValueError("only an RSA or an Ed25519 key can sign DKIM")


def load_key(path: str | os.PathLike) -> SigningKey:
    """The key in the file at ``path``; ValueError in one line when it cannot be used."""
    try:
        pem = _read_small_file(path)
    except OSError as exc:
        raise ValueError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    try:
        return signing_key(pem)
    except ValueError as exc:
        raise ValueError(f"{str(path)!r}: {exc}") from None


def _read_small_file(path: str | os.PathLike) -> bytes:
    """A regular file's bytes. O_NONBLOCK: a FIFO (or a device) at ``path`` is refused at once
    rather than hanging the start; a key is a few kilobytes, so a huge file is refused too."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as file:
        status = os.fstat(descriptor)
        if stat.S_ISDIR(status.st_mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory")
        if not stat.S_ISREG(status.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if status.st_size > MAX_KEY_FILE_BYTES:
            raise OSError(errno.EFBIG, f"larger than {MAX_KEY_FILE_BYTES:,} bytes: no key is")
        return file.read(MAX_KEY_FILE_BYTES + 1)


def write_new_key(path: str | os.PathLike, kind: str) -> SigningKey:
    """Write a new key to ``path`` (mode 600); FileExistsError rather than replace a file."""
    pem = generate_key_pem(kind)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
        file.flush()
        os.fsync(file.fileno())
    return signing_key(pem)


class DkimSigner:
    """Signs messages whose From is at ``domain`` or under it, with ``key`` and ``selector``."""

    def __init__(self, key: SigningKey, selector: str, domain: str):
        import dkim  # dkimpy: only with a key (see signing_key)

        self._sign = dkim.sign
        self.key = key
        self.selector = selector.encode("ascii")
        self.domain = domain.lower()
        self._told = set()  # From domains already logged as not signed
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings) -> DkimSigner | None:
        if settings.dkim_private_key_file is None:
            return None
        try:
            key = load_key(settings.dkim_private_key_file)
        except ValueError as exc:
            raise ConfigError(f"DKIM_PRIVATE_KEY_FILE: {exc}") from None
        return cls(key, settings.dkim_selector, settings.dkim_domain)

    def may_sign(self, domain: str) -> bool:
        return domain == self.domain or domain.endswith("." + self.domain)

    def sign(self, message) -> None:
        """Put a DKIM-Signature on ``message`` (a BuiltMessage) when its From allows it."""
        raw_from = [str(value) for name, value in message.raw_items() if name.lower() == "from"]
        domain = _domain_of(raw_from)
        if domain is None or not self.may_sign(domain):
            self._tell_not_signed(domain)
            return
        data = message.as_bytes()
        present = [name.lower() for name, _ in message.raw_items()]
        headers = [name for name in SIGNED_HEADERS for _ in range(present.count(name))]
        headers.append("from")
        signature = self._sign(
            data,
            self.selector,
            self.domain.encode("ascii"),
            self.key.private,
            canonicalize=(b"relaxed", b"relaxed"),
            signature_algorithm=self.key.algorithm,
            include_headers=[name.encode("ascii") for name in headers],
        )
        name, _, value = signature.decode("ascii").partition(": ")
        # On top, as a signer adds it; in the headers too, for plugins that read them.
        message._headers.insert(0, (name, value.removesuffix("\r\n")))
        message.wire = signature + data

    def _tell_not_signed(self, domain: str | None) -> None:
        with self._lock:
            if domain in self._told:
                return
            self._told.add(domain)
        if domain is None:
            log.warning("DKIM: a message has no single From address with a domain: not signed")
        else:
            log.warning(
                "DKIM: mail from %s is not signed: DKIM_DOMAIN is %s, and only that domain "
                "and its subdomains can be signed for (said once per domain)",
                domain,
                self.domain,
            )


def _domain_of(raw_from: list[str]) -> str | None:
    """The ASCII (IDNA) domain of the one From address, or None."""
    addresses = getaddresses(raw_from)
    if len(addresses) != 1 or "@" not in addresses[0][1]:
        return None
    domain = addresses[0][1].rpartition("@")[2].rstrip(".").lower()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
