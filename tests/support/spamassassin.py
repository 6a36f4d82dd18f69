"""Debian's SpamAssassin as a judge of the mail we build: ``Spamd`` (one spamd on a free loopback
port, local tests only, asked through spamc) and ``spamassassin_rules`` (one run of the
``spamassassin`` script, for a configuration of the test's own). /etc is only read, never
changed: extra configuration comes as --cf/--pre lines and HOME is the test's directory."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from support.smtp_peer import free_port

SPAMD = "/usr/sbin/spamd"  # /usr/sbin is not on every user's PATH
# Nothing learnt, nothing written: a judge that remembers earlier messages would score the
# next ones differently.
QUIET = ("use_bayes 0", "bayes_auto_learn 0", "use_auto_welcomelist 0")


def _installed() -> None:
    for program in (SPAMD, "spamc", "spamassassin"):
        if not shutil.which(program):
            raise RuntimeError(
                f"{program} is not installed: apt-get install spamassassin spamd spamc "
                "(bash .ci/run does)"
            )


def _options(config: tuple[str, ...], pre: tuple[str, ...] = ()) -> list[str]:
    return [f"--cf={line}" for line in (*QUIET, *config)] + [f"--pre={line}" for line in pre]


class Spamd:
    """spamd -L on 127.0.0.1 (started once, as it takes seconds to load its rules);
    ``rules_of(raw)`` is the names of the rules that hit the message, as spamc -y lists them."""

    def __init__(self, home: Path):
        self.home = home
        self.port = free_port()
        self.log = home / "spamd.log"

    def __enter__(self) -> Spamd:
        _installed()
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [
                    SPAMD,
                    "--local",
                    "--nouser-config",
                    f"--listen=127.0.0.1:{self.port}",
                    "--allowed-ips=127.0.0.1",
                    "--syslog=stderr",
                    "--max-children=1",
                    *_options(()),
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
                env={**os.environ, "HOME": str(self.home)},
            )
        deadline = time.monotonic() + 60
        while self._spamc("-K").returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"spamd did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        return self

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)

    def _spamc(self, *options: str, raw: bytes = b"") -> subprocess.CompletedProcess:
        # -x: an error is an error, not the message passed through unjudged.
        command = ["spamc", "-x", "-d", "127.0.0.1", "-p", str(self.port), *options]
        return subprocess.run(command, input=raw, capture_output=True, timeout=60)

    def rules_of(self, raw: bytes) -> list[str]:
        answer = self._spamc("-y", raw=raw)
        assert answer.returncode == 0, answer.stderr.decode()
        return [name for name in answer.stdout.decode().strip().split(",") if name]


def spamassassin_rules(
    raw: bytes, home: Path, config: tuple[str, ...], pre: tuple[str, ...] = ()
) -> list[str]:
    """One run of ``spamassassin`` over ``raw`` with the extra ``config`` and ``pre`` lines;
    the names of the rules that hit (its X-Spam-Status header's tests=)."""
    _installed()
    home.mkdir(parents=True, exist_ok=True)
    answer = subprocess.run(
        ["spamassassin", "--nocreate-prefs", *_options(config, pre)],
        input=raw,
        capture_output=True,
        timeout=120,
        # Net::DNS resolvers that SpamAssassin does not configure itself (Mail::DMARC's) read
        # RES_NAMESERVERS: they, too, stay on loopback.
        env={**os.environ, "HOME": str(home), "RES_NAMESERVERS": "127.0.0.1"},
    )
    assert answer.returncode == 0, answer.stderr.decode()
    output = answer.stdout.decode().replace("\r\n", "\n")
    # SpamAssassin folds after a comma or a space, which it keeps: unfolding joins the lines.
    head = re.sub(r"\n[ \t]+", "", output.split("\n\n", 1)[0])
    status = re.search(r"^X-Spam-Status: .* tests=([\w,]+)", head, re.MULTILINE)
    assert status, head
    return [name for name in status.group(1).split(",") if name != "none"]
