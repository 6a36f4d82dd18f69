"""A DNS server of the test's own: what `dinky-mail dns --check` and DKIM verifiers look up."""

import socket
import threading

import dns.message
import dns.rcode
import dns.rrset

from support.smtp_peer import free_port


class DnsPeer:
    """A UDP DNS server on ``host`` (loopback unless containers must reach it) answering TXT
    queries from ``records`` (name -> zone-file TXT data); ``silent``: it never answers."""

    def __init__(self, records: dict[str, str], silent: bool = False, host: str = "127.0.0.1"):
        self.records, self.silent = records, silent
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind((host, free_port(host)))
        self.socket.settimeout(0.1)
        self.port = self.socket.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.socket.close()

    def _serve(self):
        while self.running:
            try:
                wire, peer = self.socket.recvfrom(4096)
            except TimeoutError:
                continue
            if self.silent:
                continue
            query = dns.message.from_wire(wire)
            answer = dns.message.make_response(query)
            question = query.question[0]
            data = self.records.get(question.name.to_text())
            if data is None:
                answer.set_rcode(dns.rcode.NXDOMAIN)
            else:
                answer.answer.append(dns.rrset.from_text(question.name, 3600, "IN", "TXT", data))
            self.socket.sendto(answer.to_wire(), peer)
