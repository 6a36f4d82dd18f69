"""The built-in transports pass the shared transport contract (tests/support/transport_contract.py)."""

import pytest

from support.transport_contract import Delivered, TransportContract, build_transport


class TestFileTransport(TransportContract):
    @pytest.fixture
    def transport(self, tmp_path):
        self.outbox = tmp_path / "outbox"
        transport = build_transport("file", OUTBOX_DIR=str(self.outbox))
        yield transport
        transport.close()

    def delivered(self):
        # File names start with a UTC timestamp in microseconds: sorted is oldest first.
        paths = sorted(self.outbox.glob("*.eml"))
        return [Delivered.from_mime(path.read_bytes()) for path in paths]


class TestMemoryTransport(TransportContract):
    @pytest.fixture
    def transport(self):
        self.memory = build_transport("memory")
        yield self.memory
        self.memory.close()

    def delivered(self):
        return [Delivered.from_mime(message) for message, _ in self.memory.sent]


class TestPostfixTransport(TransportContract):
    @pytest.fixture
    def transport(self, smtp_server):
        self.server = smtp_server
        transport = build_transport(
            "postfix", SMTP_HOST=smtp_server.host, SMTP_PORT=str(smtp_server.port), SMTP_TIMEOUT="5"
        )
        yield transport
        transport.close()

    def delivered(self):
        return [Delivered.from_mime(received.data) for received in self.server.messages]


class TestGmailTransport(TransportContract):
    @pytest.fixture
    def transport(self, gmail_server, trusted_ca):
        self.server = gmail_server
        transport = build_transport(
            "gmail",
            SMTP_RELAY_HOST=gmail_server.host,
            SMTP_RELAY_PORT=str(gmail_server.port),
            SMTP_RELAY_USERNAME=gmail_server.username,
            SMTP_RELAY_PASSWORD=gmail_server.password,
            SMTP_TIMEOUT="5",
        )
        yield transport
        transport.close()

    def delivered(self):
        return [Delivered.from_mime(received.data) for received in self.server.messages]
