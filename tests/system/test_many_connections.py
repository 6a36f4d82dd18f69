"""1,000 idle and 100 trickling connections do not stop the service from answering (real
``dinky-mail serve``, started with the usual soft limit of 1,024 open files)."""

import json
import os
import resource
import socket
import subprocess
import time
from pathlib import Path

import pytest

from support.samples import SEED_REQUEST
from support.service_process import ServiceProcess

SEND_LUA = Path(__file__).resolve().parents[2] / "bench" / "send.lua"
TRICKLED = b"POST /send HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


@pytest.fixture
def open_files():
    """This test process may hold the 1,100 sockets too."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    yield hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def connect(port: int) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn.setblocking(False)
    return conn


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def closed_by_peer(conn: socket.socket) -> bool:
    try:
        return conn.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionError:
        return True


def test_idle_and_trickling_connections_leave_health_and_send_answering(tmp_path, open_files):
    env = {
        "ENVIRONMENT": "development",
        "MAIL_DOMAIN": "example.org",
        "MAIL_TRANSPORT": "memory",
        "DATA_DIR": str(tmp_path / "data"),
        "CLIENT_TIMEOUT": "10",
        "RECEIVE_TIMEOUT": "3",
    }
    service = ServiceProcess(env, tmp_path)
    service.args[:0] = ["prlimit", f"--nofile=1024:{open_files}"]
    with service:
        idle = [connect(service.port) for _ in range(1000)]
        tricklers = [connect(service.port) for _ in range(100)]
        started = time.monotonic()
        cut_off = {}
        for second in range(10):
            for n, conn in enumerate(tricklers):
                if n in cut_off:
                    continue
                if closed_by_peer(conn):
                    cut_off[n] = time.monotonic() - started
                else:
                    conn.send(TRICKLED[second : second + 1])  # one byte a second, never silent
            if second in (0, 2):
                (status, _, body), seconds = timed(lambda: service.request("GET", "/health"))
                assert (status, body["status"], seconds < 2) == (200, "ok", True)
                (status, _, body), seconds = timed(
                    lambda: service.request("POST", "/send", SEED_REQUEST)
                )
                assert (status, body["success"], seconds < 2) == (200, True, True)
            if len(cut_off) == len(tricklers):
                break
            time.sleep(max(0, started + second + 1 - time.monotonic()))
        # Each trickler is cut off once its request is RECEIVE_TIMEOUT old, silent or not;
        # the idle connections (CLIENT_TIMEOUT=10) are still open.
        assert len(cut_off) == 100 and 3 <= min(cut_off.values()) and max(cut_off.values()) < 6
        assert not [conn for conn in idle[::50] if closed_by_peer(conn)]
        (status, _, _), seconds = timed(lambda: service.request("GET", "/health"))
        assert status == 200 and seconds < 2
        for conn in idle + tricklers:
            conn.close()
    assert any("up to 10000 connections" in line for line in service.log)


def thread_cpu_seconds(pid: int, tid: int) -> float:
    fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_the_event_loop_waits_while_the_workers_answer_a_queue_of_requests(tmp_path):
    # 32 connections, 2 workers: requests wait for a worker. The loop thread (the process's
    # main thread) used to spin on connections whose worker was sending, about 16 ms of CPU
    # a request, holding the GIL the workers needed (49 requests a second); now it sleeps.
    env = {
        "ENVIRONMENT": "development",
        "MAIL_DOMAIN": "example.org",
        "MAIL_TRANSPORT": "memory",
        "RATE_LIMIT": "none",
        "THREADS": "2",
        "DATA_DIR": str(tmp_path / "data"),
    }
    with ServiceProcess(env, tmp_path) as service:
        pid = service.process.pid
        before = thread_cpu_seconds(pid, pid)
        done = subprocess.run(
            ["wrk", "-t", "2", "-c", "32", "-d", "3s", "-s", str(SEND_LUA)]
            + [f"http://127.0.0.1:{service.port}"],
            env={**os.environ, "BENCH_BODY": json.dumps(SEED_REQUEST)},
            capture_output=True,
            text=True,
            timeout=30,
        )
        loop_cpu = thread_cpu_seconds(pid, pid) - before
    figures = json.loads(done.stdout.split("BENCH ", 1)[1])
    assert figures["requests"] > 0 and figures["status"] == 0, done.stdout
    per_request_ms = loop_cpu * 1000 / figures["requests"]
    assert per_request_ms < 2, f"{per_request_ms:.2f} ms of the loop's CPU per request"
