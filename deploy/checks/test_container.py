"""The container image of deploy/Containerfile and deploy/compose.yaml, under podman.

No image registry is reachable from CI's machines, so the base image (Debian bookworm
with its Python 3.11) is made from Debian's packages with debootstrap and imported,
then given as the build argument BASE_IMAGE (its default is the public Python image).
podman runs with runc and explicit limits (containers.conf here); pip inside the build
trusts the host's CA bundle (PIP_CERT).

The image is built, then run against the machine's MariaDB: its health check
(/health/ready) passes, `labvault config check` is clean inside it, it runs as a user
other than root and its data folder is private. The compose file is validated by
podman-compose, and its prod profile's labvault services are brought up (`migrate`
then `labvault`) against the host's MariaDB; its own MariaDB service needs the public
MariaDB image, which cannot be pulled here (docs/deploy.md says so).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import run
from labvault.testing import port_is_open, wait_until

REPOSITORY = Path(__file__).resolve().parents[2]
DEPLOY = REPOSITORY / "deploy"
BASE_IMAGE = "localhost/labvault-base:bookworm"
IMAGE = "localhost/labvault:deploy-check"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
#: The port the image's health check asks (its CMD binds it).
PORT = 8000


@pytest.fixture(scope="module")
def podman_env() -> dict[str, str]:
    for tool in ("podman", "runc"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: apt-get install -y podman buildah runc debootstrap")
    return {**os.environ, "CONTAINERS_CONF": str(Path(__file__).with_name("containers.conf"))}


@pytest.fixture(scope="module")
def base_image(podman_env: dict[str, str]) -> str:
    """Debian bookworm with python3, from Debian's packages (made once per machine)."""
    if subprocess.run(["podman", "image", "exists", BASE_IMAGE], env=podman_env).returncode == 0:
        return BASE_IMAGE
    if shutil.which("debootstrap") is None or os.geteuid() != 0:
        pytest.fail(
            "making the base image needs root and debootstrap (apt-get install debootstrap)"
        )
    with tempfile.TemporaryDirectory(dir="/var/tmp") as folder:
        root = Path(folder) / "rootfs"
        run(
            "debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates",
            "bookworm", root, "http://deb.debian.org/debian",
        )  # fmt: skip
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            ["podman", "import", "-", BASE_IMAGE], stdin=tar.stdout, env=podman_env,
            capture_output=True, text=True,
        )  # fmt: skip
        tar.wait()
        assert imported.returncode == 0, imported.stderr
    return BASE_IMAGE


@pytest.fixture(scope="module")
def image(base_image: str, podman_env: dict[str, str]) -> Iterator[str]:
    """deploy/Containerfile built from the checkout, on the base image made here."""
    run(
        "podman", "build", "--format", "docker", "--file", DEPLOY / "Containerfile",
        "--tag", IMAGE, "--build-arg", f"BASE_IMAGE={base_image}",
        "--volume", f"{HOST_CA}:/host-ca.crt:ro", "--build-arg", "PIP_CERT=/host-ca.crt",
        REPOSITORY, env=podman_env,
    )  # fmt: skip
    try:
        yield IMAGE
    finally:
        subprocess.run(["podman", "rmi", "--force", IMAGE], env=podman_env, capture_output=True)
        subprocess.run(["podman", "image", "prune", "--force"], env=podman_env, capture_output=True)


def settings_env(database_url: str) -> list[str]:
    """The `--env` arguments of a container: what compose.yaml gives it."""
    values = {
        "LABVAULT_DATABASE_URL": database_url,
        "LABVAULT_SECRET_KEY": secrets.token_urlsafe(48),
    }
    return [argument for name, value in values.items() for argument in ("--env", f"{name}={value}")]


def ready(port: int = PORT) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=5) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


@pytest.fixture
def free_health_port() -> None:
    if port_is_open(PORT):
        pytest.fail(f"port {PORT} is taken on this machine: the container check serves there")


@pytest.mark.usefixtures("free_health_port")
def test_the_image_serves_is_healthy_and_checks_clean_against_mariadb(
    image: str, database: str, podman_env: dict[str, str]
) -> None:
    name = f"labvault-check-{secrets.token_hex(3)}"
    env = settings_env(database)
    run("podman", "run", "--rm", "--network", "host", *env, image, "db", "upgrade", env=podman_env)
    run(
        "podman", "run", "--detach", "--name", name, "--network", "host", *env,
        image, "serve", "--bind", f"127.0.0.1:{PORT}", env=podman_env,
    )  # fmt: skip
    try:

        def logs() -> str:
            return run("podman", "logs", name, env=podman_env)

        wait_until(ready, 60, message=logs)
        health = subprocess.run(
            ["podman", "healthcheck", "run", name], env=podman_env, capture_output=True, text=True
        )
        assert health.returncode == 0, f"the image's HEALTHCHECK failed: {health.stdout}"
        checked = run("podman", "exec", name, "labvault", "config", "check", env=podman_env)
        assert "configuration is valid" in checked, checked
        assert run("podman", "exec", name, "id", "-u", env=podman_env).strip() == "10001"
        mode = run("podman", "exec", name, "stat", "-c", "%a", "/var/lib/labvault", env=podman_env)
        assert mode.strip() == "700", mode
    finally:
        subprocess.run(
            ["podman", "rm", "--force", "--volumes", name], env=podman_env, capture_output=True
        )


COMPOSE_ENV = {"MARIADB_PASSWORD": "check", "LABVAULT_SECRET_KEY": secrets.token_urlsafe(48)}


def compose(*args: str, env: dict[str, str], files: tuple[Path, ...] = ()) -> str:
    command = [str(Path(sys.executable).with_name("podman-compose")), "--project-name", "lvcheck"]
    for file in (DEPLOY / "compose.yaml", *files):
        command += ["--file", str(file)]
    return run(*command, *args, env={**env, **COMPOSE_ENV})


def test_the_compose_file_is_valid_with_prod_and_dev_profiles(podman_env: dict[str, str]) -> None:
    for profile, services in (
        ("prod", {"mariadb", "migrate", "labvault"}),
        ("dev", {"mariadb", "labvault-dev"}),
    ):
        said = compose("--profile", profile, "config", env=podman_env)
        assert "services:" in said, said
        for service in services:
            assert f"\n  {service}:\n" in said, (
                f"{service} missing from the {profile} profile:\n{said}"
            )


@pytest.mark.usefixtures("free_health_port")
def test_the_prod_profile_comes_up_and_is_healthy(
    image: str, database: str, podman_env: dict[str, str], tmp_path: Path
) -> None:
    """migrate, then labvault, from compose.yaml; the host's MariaDB stands in for the
    mariadb service (its public image cannot be pulled here)."""
    override = tmp_path / "host-mariadb.yaml"
    settings = {"LABVAULT_DATABASE_URL": database}
    override.write_text(
        json.dumps(
            {
                "services": {
                    "migrate": {"image": image, "network_mode": "host", "environment": settings},
                    "labvault": {
                        "image": image,
                        "network_mode": "host",
                        "environment": settings,
                        "command": ["serve", "--bind", f"127.0.0.1:{PORT}"],
                    },
                }
            }
        )
    )
    up = ("--profile", "prod", "up", "--detach", "--no-deps", "--no-build")
    try:
        compose(*up, "migrate", env=podman_env, files=(override,))
        wait_until(
            lambda: status_of("lvcheck_migrate_1", podman_env).startswith("Exited (0)"),
            60,
            message=lambda: run("podman", "logs", "lvcheck_migrate_1", env=podman_env),
        )
        compose(*up, "labvault", env=podman_env, files=(override,))
        wait_until(
            ready, 60, message=lambda: run("podman", "logs", "lvcheck_labvault_1", env=podman_env)
        )
    finally:
        for name in ("lvcheck_labvault_1", "lvcheck_migrate_1"):
            subprocess.run(
                ["podman", "rm", "--force", "--volumes", name], env=podman_env, capture_output=True
            )
        subprocess.run(
            ["podman", "volume", "rm", "--force", "lvcheck_files"],
            env=podman_env,
            capture_output=True,
        )


def status_of(container: str, env: dict[str, str]) -> str:
    return run(
        "podman",
        "ps",
        "--all",
        "--filter",
        f"name=^{container}$",
        "--format",
        "{{.Status}}",
        env=env,
    )
