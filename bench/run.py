"""The benchmark of issue #19: ``python bench/run.py`` (about 7 minutes) or ``--quick`` (~1.5).

Starts every server on 127.0.0.1 and drives each with wrk (Debian's ``wrk`` package) at 8 and
32 connections, in turns: round after round, every case one after the other, so that the
load other programs put on a shared machine lands on all of them alike. The cases:

1. bare Falcon + waitress answering a JSON POST of /send's shape (bench/bare_app.py), on
   stock waitress and on the service's own server: the ceiling, and the reference for what
   the service itself costs;
2. ``python -m dinky_falcon serve`` with bench/plugins/discard.py's transport that keeps
   nothing (the service's own floor, what every transport adds to), and with the file sink;
3. the same with the postfix transport into Debian's Postfix, configured by
   compose/mail-server/configure-postfix and told to discard what it accepts, beside
   Postfix's own ``smtp-source -s 8`` into the same Postfix (just before and after the
   postfix case of every round);
4. the same with the gmail transport into aiosmtpd with STARTTLS and AUTH, connection reuse
   on and off;

then a crowd of 1 to 1,000 connections into Postfix (bench/crowd.py).

The full run writes bench/RESULTS.md (between its markers) and bench/results.png (with the
``bench`` extra's matplotlib); ``--quick`` prints the same figures as JSON and writes nothing.
Needs the ``test`` extra (aiosmtpd, trustme, the tests' Postfix harness) and root for Postfix.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import http.client
import importlib.util
import json
import logging
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "tests"))  # the Postfix harness and the aiosmtpd peer

from crowd import crowd  # noqa: E402
from report import BARE, BARE_SERVER, evaluate, write_results  # noqa: E402

CONNECTIONS = (8, 32)
THREADS = 8
BODY = {
    "to": "Ada Lovelace <ada@example.net>",
    "from": "Website <noreply@example.org>",
    "subject": "Contact form: a question about the analytical engine",
    "body": "Hello,\n\nI would like to know more about your work on the engine.\n\n" * 5,
}
TICKS = os.sysconf("SC_CLK_TCK")


class Server:
    """A server process on a free port; ``stop()`` always ends it (SIGTERM, then SIGKILL)."""

    def __init__(self, args: list[str], env: dict[str, str], workdir: Path):
        self.args, self.env, self.workdir = args, env, workdir
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> float:
        """Start, wait for the first 200 on /health; the seconds that took."""
        args = [a.replace("{port}", str(self.port)) for a in self.args]
        started = time.perf_counter()
        self.process = subprocess.Popen(
            args,
            cwd=self.workdir,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "server.log", "ab"),
            preexec_fn=_die_with_parent,
        )
        deadline = started + 20
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                log = (self.workdir / "server.log").read_text(errors="replace")
                raise RuntimeError(f"{args} exited:\n{log[-2000:]}")
            if self._healthy():
                return time.perf_counter() - started
            time.sleep(0.005)
        raise RuntimeError(f"{args} did not answer /health within 20 s")

    def _healthy(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
        try:
            connection.request("GET", "/health")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime

    def memory_mb(self, name: str) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) / 1024
        raise KeyError(name)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _die_with_parent() -> None:
    """In the child: SIGTERM when the bench dies, even by SIGKILL (Linux's PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)


def _free_port() -> int:
    from support.smtp_peer import free_port

    return free_port()


def wrk(port: int, connections: int, seconds: int) -> dict:
    """One bounded wrk run against POST /send; its figures."""
    done = subprocess.run(
        [
            "wrk",
            "-t",
            str(min(2, connections)),  # wrk wants a connection per thread at least
            "-c",
            str(connections),
            "-d",
            f"{seconds:d}s",
            "--timeout",
            "5s",
            "-s",
            str(BENCH / "send.lua"),
            f"http://127.0.0.1:{port}",
        ],
        env={**os.environ, "BENCH_BODY": json.dumps(BODY)},
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    )
    lines = [l for l in done.stdout.splitlines() if l.startswith("BENCH ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed:\n{done.stdout}{done.stderr}")
    return json.loads(lines[-1][len("BENCH ") :])


def sample(server: Server, connections: int, warmup: int, seconds: int) -> dict:
    """One wrk run against ``server`` after a warm-up at the same level: its figures."""
    wrk(server.port, connections, warmup)
    before = server.cpu_seconds()
    figures = wrk(server.port, connections, seconds)
    cpu = server.cpu_seconds() - before
    ok = figures["requests"] - figures["status"]
    return {
        "requests_per_s": round(ok / figures["seconds"], 1),
        "p50_ms": round(figures["p50_ms"], 2),
        "p99_ms": round(figures["p99_ms"], 2),
        "errors": sum(figures[k] for k in ("connect", "read", "write", "status", "timeout")),
        "cpu_ms_per_message": round(cpu * 1000 / ok, 3) if ok else None,
    }


def in_turns(
    servers: dict[str, Server],
    rounds: int,
    warmup: int,
    seconds: int,
    postfix_port: int,
    injected: int,
) -> tuple[dict, list[float]]:
    """Every case at every connection count, one after the other, ``rounds`` times over.

    Whatever else runs on the machine lands on the cases of a round alike, so a ratio of two
    cases is taken within each round (report.evaluate). Postfix's own ``smtp-source`` runs
    just before and just after the postfix case of every round; their mean is that round's.
    Returns the samples by case and connection count, and smtp-source's rate per round.
    """
    samples: dict[str, dict[str, list[dict]]] = {name: {} for name in servers}
    source_rates = []
    for turn in range(1, rounds + 1):
        for name, server in servers.items():
            if name == "postfix":
                before = smtp_source(postfix_port, injected)
            for connections in CONNECTIONS:
                figures = sample(server, connections, warmup, seconds)
                samples[name].setdefault(str(connections), []).append(figures)
                print(f"  round {turn}: {name} {connections} conns {figures}", file=sys.stderr)
            if name == "postfix":
                source_rates.append(round((before + smtp_source(postfix_port, injected)) / 2, 1))
                print(f"  round {turn}: smtp-source {source_rates[-1]}/s", file=sys.stderr)
    return samples, source_rates


def rows_of(name: str, server: Server, samples: dict[str, list[dict]], startup: float, idle: float):
    """A case's row per connection count: the median of its rounds."""
    rows = []
    for connections in CONNECTIONS:
        runs = samples[str(connections)]
        row = {"case": name, "connections": connections, "errors": sum(r["errors"] for r in runs)}
        for figure in ("requests_per_s", "p50_ms", "p99_ms", "cpu_ms_per_message"):
            row[figure] = statistics.median(r[figure] for r in runs if r[figure] is not None)
        rows.append(
            {
                **row,
                "idle_rss_mb": round(idle, 1),
                "peak_rss_mb": round(server.memory_mb("VmHWM"), 1),
                "startup_s": round(startup, 3),
            }
        )
    return rows


def service(workdir: Path, **env: str) -> Server:
    """``python -m dinky_falcon serve`` as production runs it, with rate limiting off."""
    env = {
        "ENVIRONMENT": "production",
        "RATE_LIMIT": "none",  # production's default limit would answer 429 to a benchmark
        "MAIL_DOMAIN": "example.org",
        "DEFAULT_FROM": "noreply@example.org",
        "ALLOWED_RECIPIENTS": "@example.net",
        "THREADS": str(THREADS),
        "DATA_DIR": str(workdir / "data"),
        "OUTBOX_DIR": str(workdir / "outbox"),
        **env,
    }
    return Server(
        [sys.executable, "-m", "dinky_falcon", "serve", "--host", "127.0.0.1", "--port", "{port}"],
        env,
        workdir,
    )


def start_postfix(scratch: Path):
    """Debian's Postfix with the project's configuration, discarding whatever it accepts."""
    from support.postfix_harness import PostfixRelay

    relay = PostfixRelay(
        scratch / "postfix",
        {
            "MAIL_DOMAIN": "example.org",
            "MAIL_HOSTNAME": "mail.example.org",
            "SMTP_RELAY_HOST": "localhost",
            "SMTP_RELAY_PORT": "2525",  # never used: everything is discarded
            "SMTP_RELAY_USERNAME": "site@example.org",
            "SMTP_RELAY_PASSWORD": "unused-password",
        },
    )
    relay.root.mkdir()
    relay.configure()
    relay.postconf("default_transport=discard:benchmark", "relay_transport=discard:benchmark")
    return relay.start()


def smtp_source(port: int, messages: int) -> float:
    """Messages per second that Postfix's own load generator injects (8 sessions)."""
    started = time.perf_counter()
    subprocess.run(
        [
            "/usr/sbin/smtp-source",
            "-s",
            "8",
            "-m",
            str(messages),
            "-l",
            "700",
            "-f",
            "noreply@example.org",
            "-t",
            "ada@example.net",
            f"127.0.0.1:{port}",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return messages / (time.perf_counter() - started)


def gmail_peer(scratch: Path):
    """aiosmtpd requiring STARTTLS and AUTH, and the CA file that makes the service trust it."""
    import trustme

    from support.smtp_peer import SmtpPeer

    # aiosmtpd logs a deprecation of its own API on every login the peer checks.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    ca = trustme.CA()
    ca_file = scratch / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return SmtpPeer(ca=ca, username="site@example.org", password="abcdefghijklmnop"), ca_file


def cases(workdir, postfix_port: int, peer, ca_file: Path) -> dict[str, Server]:
    """Every case's server, not started, in the order each round loads them."""
    bare = [sys.executable, str(BENCH / "bare_app.py"), "{port}", str(THREADS)]
    gmail = {
        "MAIL_TRANSPORT": "gmail",
        "SMTP_RELAY_HOST": "127.0.0.1",
        "SMTP_RELAY_PORT": str(peer.port),
        "SMTP_RELAY_USERNAME": peer.username,
        "SMTP_RELAY_PASSWORD": peer.password,
        "SSL_CERT_FILE": str(ca_file),
    }
    return {
        BARE: Server(bare, {}, workdir("bare")),
        # The same app on the service's own waitress server, whose event loop does not spin
        # while workers send (dinky_falcon/server.py): the reference for the service's cost.
        BARE_SERVER: Server(
            [*bare, "service-server"], {"ENVIRONMENT": "development"}, workdir("bare-server")
        ),
        "no transport": service(
            workdir("discard"), MAIL_TRANSPORT="discard", PLUGINS_DIR=str(BENCH / "plugins")
        ),
        "file sink": service(workdir("file"), MAIL_TRANSPORT="file"),
        "postfix": service(
            workdir("service-postfix"),
            MAIL_TRANSPORT="postfix",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(postfix_port),
        ),
        "gmail reuse on": service(workdir("gmail-yes"), SMTP_REUSE_CONNECTIONS="yes", **gmail),
        "gmail reuse off": service(workdir("gmail-no"), SMTP_REUSE_CONNECTIONS="no", **gmail),
    }


def run(quick: bool) -> dict:
    rounds, warmup, seconds, injected = (1, 1, 2, 400) if quick else (3, 1, 5, 3000)
    crowd_seconds = 2 if quick else 8
    load = os.getloadavg()
    scratch = Path(tempfile.mkdtemp(prefix="dinky-bench-"))
    scratch.chmod(0o755)  # postfix's own user must reach its queue below
    rows, servers, postfix, peer = [], {}, None, None
    try:

        def workdir(name: str) -> Path:
            path = scratch / name
            path.mkdir()
            return path

        postfix = start_postfix(scratch)
        smtp_source(postfix.port, injected // 4)  # warm-up
        peer, ca_file = gmail_peer(scratch)
        peer.start()
        servers = cases(workdir, postfix.port, peer, ca_file)
        started = {}
        for name, server in servers.items():
            startup = server.start()
            started[name] = startup, server.memory_mb("VmRSS")
        print(f"{rounds} round(s) of {len(servers)} cases", file=sys.stderr)
        samples, source_rates = in_turns(servers, rounds, warmup, seconds, postfix.port, injected)
        for name, server in servers.items():
            rows += rows_of(name, server, samples[name], *started[name])
            server.stop()
        print("crowd into postfix", file=sys.stderr)
        crowd_rows = crowd(
            service(
                workdir("crowd-postfix"),
                MAIL_TRANSPORT="postfix",
                SMTP_HOST="127.0.0.1",
                SMTP_PORT=str(postfix.port),
            ),
            "postfix",
            wrk,
            1 if quick else 3,
            crowd_seconds,
        )
    finally:
        for server in servers.values():
            server.stop()
        if postfix is not None:
            postfix.stop()
        if peer is not None:
            peer.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    results = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python", "bench/run.py", *sys.argv[1:]]),
        "machine": machine(),
        "rounds": rounds,
        "seconds_per_run": seconds,
        "crowd_seconds": crowd_seconds,
        "load_average": " / ".join(f"{x:.1f}" for x in load),
        "smtp_source_per_s": statistics.median(source_rates),
        "smtp_source_rounds_per_s": source_rates,
        "samples": samples,
        "rows": rows,
        "crowd": crowd_rows,
    }
    results["targets"] = evaluate(results)
    return results


def machine() -> str:
    model = next(
        (
            l.split(":", 1)[1].strip()
            for l in Path("/proc/cpuinfo").read_text().splitlines()
            if l.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{model}, {os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--quick", action="store_true", help="2 s per run, print JSON, write nothing"
    )
    options = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C: every finally block stops what it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if shutil.which("wrk") is None:
        print("bench: wrk is missing; install it with: apt-get install wrk", file=sys.stderr)
        return 2
    if not options.quick and importlib.util.find_spec("matplotlib") is None:
        # Checked first: RESULTS.md's new figures beside the old plot would disagree.
        print(
            "bench: matplotlib is missing, for results.png; install it with: "
            ".venv/bin/pip install -e '.[bench]'",
            file=sys.stderr,
        )
        return 2
    results = run(options.quick)
    if options.quick:
        print(json.dumps(results, indent=2))
    else:
        write_results(results, BENCH / "RESULTS.md", BENCH / "results.png")
        print(f"wrote {BENCH / 'RESULTS.md'} and {BENCH / 'results.png'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
