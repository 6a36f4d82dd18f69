"""A Docker engine and the base images the compose stack names, on a machine with no registry.

The stack tests need a running dockerd (Debian's docker.io, started here as root when
`docker info` fails) and the images the Dockerfiles start FROM. No container registry is
reachable from these machines, so a missing base image is built under its real name from
Debian's own packages: `debian:bookworm-slim` by debootstrap + `docker import`, the python
image from it with Debian's python3 and a venv at /usr/local (so `python` and `pip` are on
PATH as in the official image). The Dockerfiles stay exactly as a user pulls them.

Images already present are kept: only the first run on a fresh machine pays for the builds.
Run `python tests/stack_harness.py` to prepare the engine and the images by hand.
"""

import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEBIAN_IMAGE = "debian:bookworm-slim"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DOCKERD_LOG = Path("/var/log/dinky-dockerd.log")
# pip inside an image build reaches the index through this machine's TLS-intercepting proxy:
# the stand-in python image trusts the same certificates as the host.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def docker(
    *args: str, check: bool = True, timeout: float = 600, **kwargs
) -> subprocess.CompletedProcess:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, **kwargs
    )
    if check and done.returncode != 0:
        raise RuntimeError(
            f"docker {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}"
        )
    return done


def engine_running() -> bool:
    try:
        return docker("info", check=False, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure_engine(wait: float = 60) -> None:
    """Start dockerd (as root, in the background, logging to DOCKERD_LOG) unless one answers."""
    if engine_running():
        return
    if shutil.which("dockerd") is None:
        raise RuntimeError(
            "dockerd is not installed: apt-get install docker.io (bash .ci/run does)"
        )
    with open(DOCKERD_LOG, "ab") as log:
        subprocess.Popen(
            ["dockerd"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + wait
    while not engine_running():
        if time.monotonic() > deadline:
            raise RuntimeError(f"dockerd did not answer within {wait:.0f}s; see {DOCKERD_LOG}")
        time.sleep(1)


def image_present(tag: str) -> bool:
    return docker("image", "inspect", tag, check=False).returncode == 0


def base_images() -> list[str]:
    """Every FROM image of the stack's Dockerfiles, in order."""
    images = []
    for dockerfile in sorted((REPO / "compose").glob("*/Dockerfile")):
        for line in dockerfile.read_text().splitlines():
            match = re.match(r"\s*FROM\s+(\S+)", line, re.IGNORECASE)
            if match and match.group(1) not in images:
                images.append(match.group(1))
    return images


def build_debian(tag: str = DEBIAN_IMAGE) -> None:
    """debian:bookworm-slim from debootstrap's minimal base, imported as an image."""
    with tempfile.TemporaryDirectory(prefix="dinky-debootstrap-") as root:
        subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", root, DEBIAN_MIRROR],
            check=True,
            capture_output=True,
            timeout=1800,
        )
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        docker("import", "--change", 'CMD ["bash"]', "-", tag, stdin=tar.stdout)
        if tar.wait() != 0:
            raise RuntimeError("tar of the debootstrap tree failed")


PYTHON_DOCKERFILE = """\
FROM {debian}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \\
    && rm -rf /var/lib/apt/lists/* \\
    && python3 -m venv /usr/local
COPY host-ca-bundle.crt /etc/ssl/certs/host-ca-bundle.crt
ENV PIP_CERT=/etc/ssl/certs/host-ca-bundle.crt PIP_DISABLE_PIP_VERSION_CHECK=1 LANG=C.UTF-8
CMD ["python3"]
"""


def build_python(tag: str) -> None:
    """A python image (e.g. python:3.11-slim) from Debian's python3, with a venv at /usr/local."""
    ensure_image(DEBIAN_IMAGE)
    with tempfile.TemporaryDirectory(prefix="dinky-python-image-") as context:
        Path(context, "Dockerfile").write_text(PYTHON_DOCKERFILE.format(debian=DEBIAN_IMAGE))
        shutil.copy(HOST_CA_BUNDLE, Path(context, "host-ca-bundle.crt"))
        docker("build", "-t", tag, context, timeout=1800)


def ensure_image(tag: str) -> None:
    if image_present(tag):
        return
    if tag == DEBIAN_IMAGE:
        build_debian(tag)
    elif tag.startswith("python:"):
        build_python(tag)
    else:
        raise RuntimeError(
            f"no stand-in is known for the base image {tag}; pull it or add one here"
        )


def forget_images(project: str, keep_as: str = "dinky-stack-cache") -> None:
    """Drop this run's image names, keeping the layers under one stable name per image, so
    the next run's build finds them in Docker's cache and a repeated run builds in seconds."""
    listed = docker("images", "--format", "{{.Repository}}:{{.Tag}}", f"{project}/*").stdout.split()
    for tag in listed:
        name = tag.split("/", 1)[1].split(":", 1)[0]
        docker("tag", tag, f"{keep_as}/{name}:latest", check=False)
        docker("rmi", tag, check=False)


def ensure_base_images() -> None:
    for tag in base_images():
        ensure_image(tag)


if __name__ == "__main__":
    started = time.monotonic()
    ensure_engine()
    ensure_base_images()
    print(
        f"engine and base images ready ({', '.join(base_images())}) in {time.monotonic() - started:.0f}s",
        file=sys.stderr,
    )
