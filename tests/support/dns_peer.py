"""A DNS server of the test's own: UDP on a free port (of 127.0.0.1 unless containers must
reach it), answering TXT queries from a dict, and remembering every question it was asked (so
a test can see what a program looked up)."""

import socket
import threading

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class DnsPeer:
    """Answers TXT queries from ``records`` (name -> zone-file TXT data); any other type asked
    of a known name gets an empty answer, an unknown name NXDOMAIN. ``silent`` makes it take
    queries and never answer. ``queries`` lists (name, type) of every question, in order."""

    def __init__(self, records: dict[str, str], silent: bool = False, host: str = "127.0.0.1"):
        self.records, self.silent = records, silent
        self.queries: list[tuple[str, str]] = []
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind((host, 0))
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
            query = dns.message.from_wire(wire)
            question = query.question[0]
            self.queries.append(
                (question.name.to_text().lower(), dns.rdatatype.to_text(question.rdtype))
            )
            if not self.silent:
                self.socket.sendto(self._answer(query, question).to_wire(), peer)

    def _answer(self, query, question):
        answer = dns.message.make_response(query)
        data = self.records.get(question.name.to_text().lower())
        if data is None:
            answer.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.TXT:
            answer.answer.append(dns.rrset.from_text(question.name, 3600, "IN", "TXT", data))
        return answer
