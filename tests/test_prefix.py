"""labvault under a path prefix: https://host/labvault/ behind a reverse proxy.

The prefix reaches labvault in one of two ways: the WSGI ``SCRIPT_NAME`` (gunicorn takes
it from its environment; the proxy passes the path on whole), or ``X-Forwarded-Prefix``
from a proxy that strips the prefix, taken only when the deployer lists that header in
PROXY_HEADERS (with PROXY_HOPS >= 1). Either way every URL the server hands out is under
the prefix: /doc's files and spec, the spec's ``servers`` (where "Try it out" sends its
calls), sign-in URLs and pages, ``Location`` headers and the download URLs of files.
Absolute URLs (callbacks, links in mails) come from PUBLIC_URL, which then holds the
prefix itself, and get it once, not twice.

A prefix does not differ between databases: these tests run on SQLite.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from labvault.testing import TestUser, page_form

from tests.test_signin import CAMPUS

PREFIX = "/labvault"
PUBLIC_URL = f"http://localhost{PREFIX}"
#: The proxy next to labvault, as the server sees it.
NEAREST_PROXY = {"REMOTE_ADDR": "10.0.0.1"}
JSON = {"Accept": "application/json"}
TRUSTING_THE_PREFIX = {
    "PROXY_HOPS": 1,
    "PROXY_HEADERS": ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Prefix"],
}
#: A sign-in provider that does not redirect: it starts at a route of its own, which
#: mails a link to the server (as the email plugin does).
DOORMAT = """
    from flask import Blueprint
    from labvault.plugin import AuthProvider, hookimpl

    class Doormat(AuthProvider):
        name = "doormat"
        sends_links = True

        def login_url(self):
            return f"/auth/{self.instance_name}/knock"

        def blueprints(self):
            blp = Blueprint("doormat", __name__, url_prefix=f"/auth/{self.instance_name}")

            @blp.post("/knock")
            def knock():
                return {"link": self.host.external_url(f"/auth/{self.instance_name}/open")}

            return [blp]

    @hookimpl
    def labvault_auth_provider_types():
        return [Doormat]
"""


@pytest.fixture
def labvault_database_url(tmp_path):
    return f"sqlite:///{tmp_path / 'labvault.db'}"


@dataclass
class Mount:
    """A client that reaches the app under PREFIX, the way a deployment does."""

    client: Any
    environ: dict[str, str]
    headers: dict[str, str]

    def open(self, method: str, path: str, **kwargs: Any) -> Any:
        """A request for ``path`` (of the app, without the prefix)."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.open(
            path,
            method=method,
            headers=headers,
            environ_base=NEAREST_PROXY,
            environ_overrides=self.environ,
            **kwargs,
        )

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.open("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.open("POST", path, **kwargs)

    def follow(self, url: str, method: str = "GET", **kwargs: Any) -> Any:
        """A request for a URL the server handed out: it must lie under the prefix."""
        parts = urlsplit(url)
        assert parts.path.startswith(PREFIX + "/"), f"{url} is not under {PREFIX}"
        return self.open(method, parts.path[len(PREFIX) :], query_string=parts.query, **kwargs)


#: The two ways a prefix reaches labvault: their settings and what a request carries.
WAYS = {
    "script-name": ({}, {"SCRIPT_NAME": PREFIX}, {}),
    "x-forwarded-prefix": (TRUSTING_THE_PREFIX, {}, {"X-Forwarded-Prefix": PREFIX}),
}


@pytest.fixture
def make_mounted(dists, labvault_make_app):
    """Factory: an app with two sign-in providers and the Mount of a way to reach it."""
    dists.add("campus", CAMPUS)
    dists.add("doormat", DOORMAT)

    def make(way: str, **settings: Any) -> tuple[Any, Mount]:
        trust, environ, headers = WAYS[way]
        app = labvault_make_app(
            PLUGINS=["campus", "doormat"],
            AUTH_PROVIDERS={"uni": {"type": "campus"}, "door": {"type": "doormat"}},
            PUBLIC_URL=PUBLIC_URL,
            **{**trust, **settings},
        )
        return app, Mount(app.test_client(), environ, headers)

    return make


@pytest.fixture(params=list(WAYS))
def mounted(request, make_mounted):
    return make_mounted(request.param)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in {"src", "href"} and value]


def links_of(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.urls


# --- /doc and /openapi.json --------------------------------------------------------------


def test_doc_loads_its_files_and_its_spec_under_the_prefix(mounted):
    _, mount = mounted

    page = mount.get("/doc")
    html = page.get_data(as_text=True)

    assert page.status_code == 200
    assets = links_of(html)
    assert len(assets) == 3, html
    for url in assets:
        assert url.startswith(f"{PREFIX}/doc/assets/swagger-ui"), url
        asset = mount.follow(url)
        assert asset.status_code == 200, url
        assert len(asset.data) > 1000, url
    assert f'url: "{PREFIX}/openapi.json"' in html
    spec = mount.follow(f"{PREFIX}/openapi.json")
    assert spec.status_code == 200
    assert spec.json["paths"]["/info"]["get"]["summary"]


def test_the_spec_names_the_prefix_as_its_server_and_is_otherwise_the_same(mounted):
    app, mount = mounted

    behind = mount.get("/openapi.json").json
    direct = app.test_client().get("/openapi.json").json

    assert behind["servers"] == [{"url": PREFIX}]
    assert direct["servers"] == [{"url": "/"}]
    assert {**behind, "servers": None} == {**direct, "servers": None}
    assert "/info" in behind["paths"] and not any(p.startswith(PREFIX) for p in behind["paths"])


# --- signing in --------------------------------------------------------------------------


def test_sign_in_urls_are_under_the_prefix(mounted):
    _, mount = mounted
    expected = {"uni": f"{PREFIX}/auth/uni/login", "door": f"{PREFIX}/auth/door/knock"}

    listed = mount.get("/auth/providers").json
    info = mount.get("/info").json["login_providers"]

    assert {p["name"]: p["login_url"] for p in listed} == expected
    assert {p["name"]: p["login_url"] for p in info} == expected
    # links in mails: PUBLIC_URL holds the prefix, and the link has it once
    knocked = mount.follow(expected["door"], method="POST")
    assert knocked.status_code == 200, knocked.json
    assert knocked.json == {"link": f"{PUBLIC_URL}/auth/door/open"}


def state_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


def test_a_sign_in_goes_round_under_the_prefix(mounted):
    _, mount = mounted

    started = mount.follow(f"{PREFIX}/auth/uni/login")
    query = parse_qs(urlsplit(started.headers["Location"]).query)
    finished = mount.get(
        "/auth/uni/callback", query_string={"state": query["state"][0], "code": "ada"}
    )

    assert started.status_code == 302
    assert query["redirect_uri"] == [f"{PUBLIC_URL}/auth/uni/callback"]
    assert "Path=/;" in started.headers["Set-Cookie"]  # the cookie reaches the callback
    assert finished.status_code == 200, finished.get_data(as_text=True)
    assert links_of(finished.get_data(as_text=True)) == [f"{PREFIX}/doc"]


def test_a_script_started_sign_in_and_a_link_confirmation_are_under_the_prefix(
    mounted, labvault_make_user
):
    app, mount = mounted
    ada: TestUser = labvault_make_user(app)

    started = mount.get(
        "/auth/uni/login", query_string={"link": "true"}, headers={**ada.headers, **JSON}
    )
    url = started.json["authorization_url"]
    assert url.startswith(f"{PUBLIC_URL}/auth/uni/continue?"), url
    at_provider = mount.follow(url)
    assert at_provider.status_code == 302, at_provider.json
    state = state_of(at_provider.headers["Location"])
    page = mount.get("/auth/uni/callback", query_string={"state": state, "code": "ada-uni"})
    assert page.status_code == 200, page.get_data(as_text=True)
    action, fields = page_form(page.get_data(as_text=True))

    assert action == f"{PREFIX}/auth/uni/link"
    linked = mount.follow(
        action, method="POST", data=fields, headers={"Origin": "http://localhost", **JSON}
    )
    assert linked.status_code == 200, linked.json
    identities = mount.get("/users/me/identities", headers=ada.headers).json
    assert [(i["provider"], i["subject"]) for i in identities] == [("uni", "ada-uni")]


# --- records: Location and download URLs -------------------------------------------------


def test_created_records_are_located_under_the_prefix(mounted, labvault_make_user):
    app, mount = mounted
    ada: TestUser = labvault_make_user(app)
    auth = {"headers": ada.headers}

    item = mount.post("/items", json={"type": "sample", "name": "NaCl"}, **auth)
    refcode = item.json["refcode"]
    collection = mount.post("/collections", json={"collection_id": "salts"}, **auth)
    block = mount.post(f"/items/{refcode}/blocks", json={"block_type": "comment"}, **auth)
    upload = mount.post(
        f"/items/{refcode}/files",
        data={"file": (io.BytesIO(b"a,b\n1,2\n"), "data.csv")},
        content_type="multipart/form-data",
        **auth,
    )

    assert [r.status_code for r in (item, collection, block, upload)] == [201] * 4
    assert item.headers["Location"] == f"{PREFIX}/items/{refcode}"
    assert collection.headers["Location"] == f"{PREFIX}/collections/salts"
    assert block.headers["Location"] == f"{PREFIX}/items/{refcode}/blocks/{block.json['id']}"
    assert upload.headers["Location"] == f"{PREFIX}/files/{upload.json['id']}"
    assert upload.json["content_url"] == f"{PREFIX}/files/{upload.json['id']}/content"
    for created, key in [(item, "refcode"), (collection, "collection_id"), (block, "id")]:
        found = mount.follow(created.headers["Location"], **auth)
        assert found.status_code == 200, created.headers["Location"]
        assert found.json[key] == created.json[key]
    assert mount.follow(upload.headers["Location"], **auth).json == upload.json
    assert mount.follow(upload.json["content_url"], **auth).data == b"a,b\n1,2\n"


def test_a_paged_list_links_under_the_prefix(mounted, labvault_make_user):
    app, mount = mounted
    ada: TestUser = labvault_make_user(app)
    auth = {"headers": ada.headers}
    refcode = mount.post("/items", json={"type": "sample"}, **auth).json["refcode"]
    for number in range(3):
        content = f"file {number}".encode()
        files = {"file": (io.BytesIO(content), f"{number}.txt")}
        mount.post(f"/items/{refcode}/files", data=files, **auth)

    pages = [
        mount.get(f"/items/{refcode}/files", query_string={"page": page, "page_size": 2}, **auth)
        for page in (1, 2)
    ]

    assert json.loads(pages[0].headers["X-Pagination"])["next_page"] == 2
    listed = [file for page in pages for file in page.json]
    assert len(listed) == 3
    for file in listed:
        assert file["content_url"] == f"{PREFIX}/files/{file['id']}/content"
        assert mount.follow(file["content_url"], **auth).status_code == 200


# --- a prefix nobody was told to trust -----------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [{}, {"PROXY_HOPS": 1}, {"PROXY_HOPS": 1, "PROXY_HEADERS": ["X-Forwarded-Host"]}],
    ids=["no-proxy", "default-headers", "other-headers"],
)
def test_a_forwarded_prefix_is_ignored_unless_trusted(make_mounted, labvault_make_user, settings):
    app, _ = make_mounted("script-name", **settings)
    ada: TestUser = labvault_make_user(app)
    client = app.test_client()
    forged = {"X-Forwarded-Prefix": "/elsewhere"}

    def get(path: str) -> Any:
        return client.get(path, headers={**forged, **ada.headers}, environ_base=NEAREST_PROXY)

    item = client.post(
        "/items",
        json={"type": "sample"},
        headers={**forged, **ada.headers},
        environ_base=NEAREST_PROXY,
    )

    assert all(url.startswith("/doc/assets/") for url in links_of(get("/doc").data.decode()))
    assert get("/openapi.json").json["servers"] == [{"url": "/"}]
    logins = {p["name"]: p["login_url"] for p in get("/auth/providers").json}
    assert logins == {"uni": "/auth/uni/login", "door": "/auth/door/knock"}
    assert item.headers["Location"] == f"/items/{item.json['refcode']}"
