"""The deployer's recipe of docs/deploy.md, run as a lab's IT person runs it.

labvault and a plugin are built into wheels and installed in a fresh venv (nothing of
the checkout's own venv); `labvault init` makes the home folder (config.py, .env with
the secret key), the settings are filled in, the database is MariaDB, and `labvault
serve` runs behind the real nginx with the site file of deploy/nginx/, over TLS on a
loopback port, under the path prefix /labvault. Then, through nginx:

- /doc renders in Chromium, its assets and the API document load under the prefix, and
  "Try it out" on GET /info answers 200;
- a 50 MB upload passes and downloads byte for byte; a body over nginx's limit is
  answered in labvault's JSON shape;
- sign-in links' tokens and providers' codes stay out of nginx's access log;
- the sign-in providers' login_url is under the prefix;
- `labvault config check` and `labvault backup due`, run as cron runs them (another
  working directory, LABVAULT_HOME alone), succeed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
import venv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from harness import run
from labvault.testing import free_port, wait_for_port, wait_until_ready
from playwright.sync_api import Browser, expect

REPOSITORY = Path(__file__).resolve().parents[2]
SITE_FILE = REPOSITORY / "deploy" / "nginx" / "labvault.conf"
PREFIX = "/labvault"
ADMIN = "it@lab.example.org"
#: What a fresh venv gets: the core and one plugin, from their folders of the checkout.
DISTRIBUTIONS = [REPOSITORY, REPOSITORY / "plugins" / "auth_github"]
#: Left out of the copies the wheels are built from: anywhere, and at their top only.
GENERATED = shutil.ignore_patterns("__pycache__", "*.egg-info")
NOT_SOURCES = {".venv", ".git", "build", "dist", "site", "tests", "plugins", "bench", "docs"}
NOT_SOURCES |= {"deploy", "instance", "config.py", ".env"}


def source_files(folder: str, names: list[str]) -> set[str]:
    """What shutil.copytree leaves out of a distribution's folder."""
    top = {name for name in names if name in NOT_SOURCES} if folder in TOPS else set()
    return top | GENERATED(folder, names)


TOPS = {str(folder) for folder in DISTRIBUTIONS}
UPLOAD_BYTES = 50 * 1024 * 1024


@dataclass
class Site:
    """A deployed labvault: its venv, home folder, nginx and the address to reach it at."""

    venv: Path
    home: Path
    base_url: str  # https://127.0.0.1:PORT/labvault
    nginx_log: Path
    tls: ssl.SSLContext

    def cron_env(self) -> dict[str, str]:
        """What cron gives a command: a bare PATH and what the cron file sets."""
        return {"PATH": "/usr/bin:/bin", "LABVAULT_HOME": str(self.home)}

    def labvault(self, *args: str, cwd: Path | None = None) -> str:
        """A labvault command as cron runs it: from another working directory."""
        return run(self.venv / "bin" / "labvault", *args, cwd=cwd or Path("/"), env=self.cron_env())

    def request(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> tuple[int, dict[str, str], bytes]:
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(
            self.base_url + path, method=method, headers=headers, **kwargs
        )
        try:
            with urllib.request.urlopen(request, context=self.tls, timeout=120) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The wheels of the core and the plugin, built from copies of their folders."""
    work = tmp_path_factory.mktemp("wheels")
    sources = []
    for folder in DISTRIBUTIONS:
        copy = work / "src" / folder.name
        shutil.copytree(folder, copy, ignore=source_files)
        sources.append(copy)
    out = work / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", out, *sources)
    built = sorted(out.glob("*.whl"))
    assert len(built) == len(DISTRIBUTIONS), built
    return built


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory, wheels: list[Path]) -> Path:
    """A venv with nothing but the wheels and what they depend on (from PyPI)."""
    env = tmp_path_factory.mktemp("venv")
    venv.create(env, with_pip=True)
    run(env / "bin/python", "-m", "pip", "install", "--quiet", *wheels)
    return env


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, made with openssl as a deployer would test with."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    run(
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        "-keyout", key, "-out", cert,
    )  # fmt: skip
    return cert, key


def render_site(
    folder: Path, *, https_port: int, http_port: int, upstream_port: int, cert: Path, key: Path
) -> Path:
    """deploy/nginx/labvault.conf with only what a deployer edits changed: addresses,
    certificate and log paths. A line this looks for and misses fails the test, so the
    file and this check cannot drift apart."""
    text = SITE_FILE.read_text()
    logs = folder / "logs"
    logs.mkdir()
    edits = {
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen [::]:80;": "",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen [::]:443 ssl http2;": "",
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream_port};",
        "/etc/letsencrypt/live/lab.example.org/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/lab.example.org/privkey.pem": str(key),
        "/var/log/nginx/": f"{logs}/",
    }
    for old, new in edits.items():
        assert old in text, f"{SITE_FILE} no longer has {old!r}: update this check with it"
        text = text.replace(old, new)
    site = folder / "labvault.conf"
    site.write_text(text)
    temp = folder / "temp"
    main = folder / "nginx.conf"
    main.write_text(
        f"""
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {logs}/main.error.log;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {site};
}}
"""
    )
    temp.mkdir()
    return main


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, fresh_venv: Path, database: str
) -> Iterator[Site]:
    """labvault deployed by the recipe, served by gunicorn behind nginx."""
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        pytest.fail("nginx is missing: apt-get install -y nginx-light (.ci/run does it)")
    work = tmp_path_factory.mktemp("deployed")
    home = work / "etc-labvault"
    labvault = fresh_venv / "bin" / "labvault"
    https_port, http_port, upstream_port = free_port(), free_port(), free_port()

    # 1. labvault init: config.py and .env (with a fresh SECRET_KEY), never overwritten
    run(labvault, "init", home, cwd=work)
    assert (home / "config.py").is_file() and (home / ".env").is_file()
    assert (home / ".env").stat().st_mode & 0o077 == 0, "the .env holding the key is private"
    assert re.search(r"(?m)^LABVAULT_SECRET_KEY=\S{32,}$", (home / ".env").read_text())
    again = subprocess.run([labvault, "init", home], capture_output=True, text=True, cwd=work)
    assert again.returncode != 0 and "config.py" in again.stdout + again.stderr

    # 2. the settings a deployer fills in (docs/deploy.md, step 3)
    with (home / "config.py").open("a") as config:
        config.write(
            f"""
DATABASE_URL = {database!r}
INSTANCE_PATH = {str(work / "var-lib-labvault")!r}
PUBLIC_URL = "https://127.0.0.1:{https_port}{PREFIX}"
PROXY_HOPS = 1
PROXY_HEADERS = ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Prefix"]
LOG_FILE = {str(work / "labvault.log")!r}
PLUGINS = ["auth_github"]
AUTH_PROVIDERS = {{
    "github": {{
        "type": "github",
        "client_id": "deploy-check",
        "client_secret": {{"env": "GITHUB_CLIENT_SECRET"}},
    }}
}}
BACKUP_STRATEGIES = {{
    "nightly": {{
        "target": {{"type": "local", "path": {str(work / "backups")!r}}},
        "frequency": "1d",
        "retention": 3,
    }}
}}
"""
        )
    with (home / ".env").open("a") as env:
        env.write(f"GITHUB_CLIENT_SECRET={secrets.token_urlsafe(24)}\n")
    (work / "backups").mkdir(mode=0o700)

    # 3. check, upgrade, the first admin, serve: from elsewhere, with LABVAULT_HOME only
    cert, key = self_signed_certificate(work)
    nginx_dir = work / "nginx"
    nginx_dir.mkdir()
    deployed = Site(
        venv=fresh_venv,
        home=home,
        base_url=f"https://127.0.0.1:{https_port}{PREFIX}",
        nginx_log=nginx_dir / "logs" / "labvault.access.log",
        tls=ssl.create_default_context(cafile=str(cert)),
    )
    checked = deployed.labvault("config", "check")
    assert "configuration is valid" in checked, checked
    deployed.labvault("db", "upgrade")
    deployed.labvault("users", "create", ADMIN, "--role", "admin")
    serve_log = (work / "serve.log").open("w")
    server = subprocess.Popen(
        [labvault, "serve", "--bind", f"127.0.0.1:{upstream_port}", "--workers", "2",
         "--pid-file", work / "labvault.pid"],
        cwd="/", env=deployed.cron_env(), stdout=serve_log, stderr=subprocess.STDOUT,
    )  # fmt: skip

    # 4. nginx with the site file of deploy/nginx
    main = render_site(
        nginx_dir, https_port=https_port, http_port=http_port,
        upstream_port=upstream_port, cert=cert, key=key,
    )  # fmt: skip
    run("nginx", "-t", "-q", "-c", main, "-p", nginx_dir)
    nginx_out = (nginx_dir / "nginx.out").open("w")
    nginx = subprocess.Popen(
        ["nginx", "-c", str(main), "-p", str(nginx_dir)], stdout=nginx_out, stderr=nginx_out
    )
    try:
        wait_until_ready(
            f"http://127.0.0.1:{upstream_port}", server, lambda: (work / "serve.log").read_text()
        )
        wait_for_port(https_port, timeout=10)
        assert int((work / "labvault.pid").read_text()) == server.pid
        yield deployed
    finally:
        nginx.terminate()
        server.terminate()
        for process in (nginx, server):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        serve_log.close()
        nginx_out.close()
    assert not (work / "labvault.pid").exists(), "serve removes its pid file when it stops"


@pytest.fixture(scope="module")
def admin_token(site: Site) -> str:
    return site.labvault("tokens", "issue", "--user", ADMIN).strip()


def test_the_server_is_ready_through_nginx_under_the_prefix(site: Site) -> None:
    status, _, body = site.request("GET", "/health/ready")
    assert status == 200 and json.loads(body)["status"] == "ok", body


def test_doc_renders_and_try_it_out_answers_200_through_the_prefix(
    site: Site, labvault_chromium: Browser
) -> None:
    context = labvault_chromium.new_context(ignore_https_errors=True)
    asked: list[str] = []
    try:
        page = context.new_page()
        page.on("request", lambda request: asked.append(request.url))
        doc = page.goto(site.base_url + "/doc")
        assert doc is not None and doc.status == 200
        operation = page.locator(".opblock.opblock-get").filter(
            has=page.locator(".opblock-summary-path[data-path='/info']")
        )
        expect(operation, "GET /info on /doc: the page rendered the API").to_have_count(1)
        operation.locator(".opblock-summary").click()
        operation.get_by_role("button", name="Try it out").click()
        with page.expect_response(site.base_url + "/info") as answered:
            operation.get_by_role("button", name="Execute").click()
        assert answered.value.status == 200, answered.value.text()
        status = operation.locator(".live-responses-table tr.response .response-col_status")
        expect(status, "the status /doc shows for GET /info").to_have_text("200")
    finally:
        context.close()
    paths = [urlsplit(url).path for url in asked]
    assert f"{PREFIX}/openapi.json" in paths, paths
    assert any(p.startswith(f"{PREFIX}/doc/") and p.endswith(".js") for p in paths), paths
    assert [p for p in paths if not p.startswith(PREFIX + "/")] == [], "asked outside the prefix"


def test_a_50_mb_upload_passes_and_downloads_byte_for_byte(site: Site, admin_token: str) -> None:
    status, headers, body = site.request(
        "POST", "/items", admin_token,
        data=json.dumps({"type": "sample", "name": "through nginx"}).encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert status == 201, body
    assert urlsplit(headers["Location"]).path.startswith(PREFIX + "/items/"), headers["Location"]
    refcode = json.loads(body)["refcode"]
    content = secrets.token_bytes(UPLOAD_BYTES)
    boundary = secrets.token_hex(16)
    multipart = b"".join(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="cycling.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode(),
            content,
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )
    status, _, body = site.request(
        "POST", f"/items/{refcode}/files", admin_token, data=multipart,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )  # fmt: skip
    assert status == 201, body
    stored = json.loads(body)
    assert stored["size"] == UPLOAD_BYTES
    assert stored["sha256"] == hashlib.sha256(content).hexdigest()
    assert stored["content_url"].startswith(PREFIX + "/"), stored["content_url"]
    status, _, downloaded = site.request(
        "GET", stored["content_url"].removeprefix(PREFIX), admin_token
    )
    assert status == 200 and downloaded == content


def test_a_body_over_nginx_limit_is_refused_in_labvault_json(site: Site) -> None:
    """nginx refuses by Content-Length before it reads the body: no 1 GiB needs to go."""
    url = urlsplit(site.base_url)
    with ssl_socket(site, url.hostname or "", url.port or 443) as sock:
        sock.sendall(
            f"POST {PREFIX}/items/x/files HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Content-Length: {2 * 1024**3}\r\nContent-Type: application/octet-stream\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert b"application/json" in head, head
    assert json.loads(body)["code"] == 413, body


def ssl_socket(site: Site, host: str, port: int) -> Any:
    import socket

    return site.tls.wrap_socket(
        socket.create_connection((host, port), timeout=30), server_hostname=host
    )


def test_tokens_and_codes_stay_out_of_the_nginx_access_log(site: Site, admin_token: str) -> None:
    secrets_sent = [secrets.token_urlsafe(16) for _ in range(4)]
    token, code, state, referrer = secrets_sent
    site.request("GET", f"/auth/github/callback?code={code}&state={state}")
    site.request("GET", f"/info?token={token}", headers={"Referer": f"https://x/?token={referrer}"})
    site.request("GET", "/users/me", admin_token)
    logged = wait_for_log(site.nginx_log, f"{PREFIX}/users/me")
    assert f"GET {PREFIX}/auth/github/callback HTTP/1.1" in logged, logged
    assert f"GET {PREFIX}/info HTTP/1.1" in logged, logged
    for secret in [*secrets_sent, admin_token]:
        assert secret not in logged, f"nginx logged a secret:\n{logged}"


def wait_for_log(path: Path, text: str) -> str:
    from labvault.testing import wait_for_text

    return wait_for_text(lambda: path.read_text() if path.exists() else "", text, timeout=10)


def test_login_urls_are_under_the_prefix(site: Site) -> None:
    status, _, body = site.request("GET", "/auth/providers")
    assert status == 200, body
    providers = json.loads(body)
    login = {provider["name"]: provider["login_url"] for provider in providers}
    assert urlsplit(login["github"]).path == f"{PREFIX}/auth/github/login", login


def test_backup_due_runs_from_cron_in_another_working_directory(site: Site, tmp_path: Path) -> None:
    said = site.labvault("backup", "due", cwd=tmp_path)
    assert "nightly" in said, said
    listed = site.labvault("backup", "list", "--strategy", "nightly", cwd=tmp_path)
    assert len([line for line in listed.splitlines() if line.startswith("nightly")]) == 1, listed
    assert list((site.home.parent / "backups").iterdir()), "the backup wrote nothing"
