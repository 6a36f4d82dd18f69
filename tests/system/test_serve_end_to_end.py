"""The real thing: ``dinky-mail serve`` under waitress on loopback, a real HTTP client, a real .eml."""

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from support.samples import SEED_REQUEST, parse_mail
from support.service_process import ServiceProcess


def test_the_seed_request_lands_as_an_eml_through_a_real_server(tmp_path):
    outbox = tmp_path / "outbox"
    env = {"ENVIRONMENT": "development", "OUTBOX_DIR": str(outbox), "MAIL_DOMAIN": "example.com"}
    with ServiceProcess(env, cwd=tmp_path) as service:
        status, _, health = service.request("GET", "/health")
        assert (status, health) == (
            200,
            {"status": "ok", "transport": "file", "plugin": "dinky_falcon.transports.file"},
        )
        status, _, answer = service.request("POST", "/send", SEED_REQUEST)
        assert status == 200
        assert answer["success"] is True
        (eml,) = outbox.glob("*.eml")
        message = parse_mail(eml.read_bytes())
        assert message["Message-ID"] == answer["id"]
        assert message["To"] == "recipient@example.org"
        assert message["From"] == "noreply@example.com"
        assert message["Subject"] == "Test Email"
        assert message.get_content() == "This is a test email\n"
        code = service.stop()
    assert code == 0
    assert any("POST /send 200" in line for line in service.log)
    assert any(line.endswith("stopped") for line in service.log)


def test_a_bad_configuration_stops_serve_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "dinky_falcon", "serve", "--port", "0"],
        cwd=tmp_path,
        env={"ENVIRONMENT": "development", "TLS_VERIFY": "sometimes", "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "dinky-mail: configuration error: TLS_VERIFY='sometimes' is not a boolean: "
        "use yes/no, true/false or 1/0"
    )


def test_get_app_reads_the_environment_for_any_wsgi_host(monkeypatch, tmp_path):
    from falcon import testing

    from dinky_falcon.app import get_app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("MAIL_TRANSPORT", "memory")
    result = testing.TestClient(get_app()).simulate_get("/health")
    assert result.json == {
        "status": "ok",
        "transport": "memory",
        "plugin": "dinky_falcon.transports.memory",
    }


def test_every_request_is_in_the_log_when_serve_stops(tmp_path):
    """The log is written by a thread of its own (logs.written_by_one_thread): what is still
    queued when SIGTERM arrives is written before the process ends."""
    env = {"ENVIRONMENT": "development", "MAIL_TRANSPORT": "memory", "MAIL_DOMAIN": "example.com"}
    with ServiceProcess(env, cwd=tmp_path) as service:
        with ThreadPoolExecutor(8) as pool:
            statuses = list(
                pool.map(lambda _: service.request("POST", "/send", SEED_REQUEST)[0], range(200))
            )
        assert statuses == [200] * 200
        assert service.stop() == 0
    deadline = time.monotonic() + 5
    while not any(line.endswith("stopped") for line in service.log) and time.monotonic() < deadline:
        time.sleep(0.01)  # the reader thread may still be draining the pipe
    assert sum("POST /send 200" in line for line in service.log) == 200
    assert service.log[-1].endswith("stopped")


SLOW_TRANSPORT = '''
import time
from dinky_falcon import hookimpl

class SlowTransport:
    """Takes 50 ms a message, so that SIGTERM finds requests in flight."""
    def __init__(self, settings):
        pass
    def send(self, message, envelope):
        time.sleep(0.05)

@hookimpl
def register_transports(register):
    register("slow", SlowTransport)
'''


def test_sigterm_under_load_stops_serve_promptly_with_every_answered_request_logged(tmp_path):
    """Ten times over: SIGTERM while eight clients keep sending; the process is gone within a
    few seconds, each request that was answered has its access line, and "stopped" is last."""
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "slow.py").write_text(SLOW_TRANSPORT)
    env = {
        "ENVIRONMENT": "development",
        "MAIL_TRANSPORT": "slow",
        "MAIL_DOMAIN": "example.com",
        "PLUGINS_DIR": str(tmp_path / "plugins"),
    }
    for cycle in range(10):
        service = ServiceProcess(env, tmp_path).start()
        answered = []

        def keep_sending(_):
            while True:
                try:
                    status = service.request("POST", "/send", SEED_REQUEST, timeout=10)[0]  # noqa: B023 - runs within this cycle
                except (OSError, ValueError):  # refused, reset, or cut off mid-answer
                    return
                answered.append(status)  # noqa: B023 - runs within this cycle

        with ThreadPoolExecutor(8) as pool:
            clients = [pool.submit(keep_sending, n) for n in range(8)]
            while len(answered) < 20:
                time.sleep(0.01)
            signalled = time.monotonic()
            service.process.terminate()
            service.process.wait(10)
            stopped_after = time.monotonic() - signalled
            for client in clients:
                client.result(10)
        assert service.process.returncode == 0, f"cycle {cycle}"
        assert stopped_after < 5, f"cycle {cycle}: {stopped_after:.1f} s after SIGTERM"
        assert service.log_complete.wait(5)
        assert set(answered) == {200}
        logged = sum("POST /send 200" in line for line in service.log)
        assert logged >= len(answered), f"cycle {cycle}: {logged} lines, {len(answered)} answers"
        assert service.log[-1].endswith("stopped"), f"cycle {cycle}: {service.log[-3:]}"


LINGERING_TRANSPORT = '''
import os, time
from dinky_falcon import hookimpl

class LingeringTransport:
    """Takes 7 s a message (longer than waitress waits for its workers at SIGTERM, shorter
    than the send's deadline), and counts what it took in SENT_DIR."""
    def __init__(self, settings):
        self.sent_dir = settings.get("SENT_DIR")
    def send(self, message, envelope):
        time.sleep(7)
        with open(os.path.join(self.sent_dir, str(time.time_ns())), "w"):
            pass

@hookimpl
def register_transports(register):
    register("lingering", LingeringTransport)
'''


def test_a_send_still_running_at_sigterm_is_finished_and_its_key_replays_after_a_restart(tmp_path):
    """waitress waits 5 s for its workers; a send that takes longer (within SMTP_TIMEOUT's
    deadline) still records its answer before the idempotency store closes, so the client's
    retry after the restart replays it instead of finding its key lapsed."""
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "lingering.py").write_text(LINGERING_TRANSPORT)
    sent = tmp_path / "sent"
    sent.mkdir()
    env = {
        "ENVIRONMENT": "development",
        "MAIL_TRANSPORT": "lingering",
        "SMTP_TIMEOUT": "3",
        "MAIL_DOMAIN": "example.com",
        "PLUGINS_DIR": str(tmp_path / "plugins"),
        "SENT_DIR": str(sent),
        "DATA_DIR": str(tmp_path / "data"),
    }
    key = {"Idempotency-Key": "order-1002"}
    service = ServiceProcess(env, tmp_path).start()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(service.request, "POST", "/send", SEED_REQUEST, key, 30)
        time.sleep(1)  # the send is under way
        assert service.stop(timeout=20) == 0
        try:
            first.result()
        except OSError:
            pass  # the answer itself is lost with the listener: what counts is the record
    assert len(list(sent.iterdir())) == 1
    assert any("request(s) in flight" in line for line in service.log)
    with ServiceProcess(env, tmp_path) as again:
        status, headers, body = again.request("POST", "/send", SEED_REQUEST, key)
    assert (status, headers.get("Idempotent-Replayed"), body["success"]) == (200, "true", True)
    assert len(list(sent.iterdir())) == 1
