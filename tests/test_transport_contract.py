"""The built-in transports pass the shared transport contract (tests/transport_contract.py)."""

import pytest

from transport_contract import Delivered, TransportContract, build_transport


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
