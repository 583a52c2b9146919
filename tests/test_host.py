"""The host object: a real plugin reaching the core through ``labvault.plugin.Host`` only.

The plugin below is installed as a distribution (see plugin_dists.py) and used the way a
deployer and an API client would notice: its options, its log lines, its routes signing
people in, recording versions and keeping files. The host's database work is the same on
every database, so these tests run on SQLite.
"""

from __future__ import annotations

import io
import logging
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from labvault.auth.models import Status, User
from labvault.plugin import ContentTooLarge, Host, Identity, NotFound
from labvault.web.session import get_session

from tests.records import create_item, current_etag

BRIDGE = """
    import io

    import marshmallow as ma
    from flask import Blueprint, request
    from labvault.plugin import AuthProvider, Identity, hookimpl

    class BridgeLogin(AuthProvider):  # signs in whoever the bridge's route names
        name = "bridge"

    @hookimpl
    def labvault_auth_provider_types():
        return [BridgeLogin]

    class BridgeOptions(ma.Schema):
        class Meta:
            unknown = ma.RAISE

        url = ma.fields.URL(required=True)
        timeout = ma.fields.Float(load_default=10.0)

    hosts = []

    @hookimpl
    def labvault_options_schema():
        return BridgeOptions

    @hookimpl
    def labvault_startup(host):
        hosts.append(host)
        host.logger.info("bridge ready at %s", host.options["url"])

    @hookimpl
    def labvault_blueprints(host):
        blp = Blueprint("bridge", __name__, url_prefix="/bridge")

        @blp.post("/sign-in")
        def sign_in():
            tokens = host.sign_in(Identity(**request.get_json()))
            return {"access_token": tokens.access_token, "refresh_token": tokens.refresh_token}

        @blp.post("/synced/<refcode>")
        def synced(refcode):
            with host.session(write=True) as session:
                host.record_version(session, refcode, "bridge_sync")
            return "", 204

        return [blp]
"""


@pytest.fixture
def labvault_database_url(tmp_path):
    return f"sqlite:///{tmp_path / 'labvault.db'}"


@pytest.fixture
def bridge(dists, labvault_make_app):
    """An app with the bridge plugin enabled, and the host the plugin was given."""
    module = dists.add("bridge", BRIDGE)
    app = labvault_make_app(
        PLUGINS=["bridge"],
        PLUGIN_OPTIONS={"bridge": {"url": "http://xrd.lab"}},
        AUTH_PROVIDERS={"bridge": {"type": "bridge"}},
    )
    (host,) = sys.modules[module].hosts
    return app, host


def identity(**fields):
    return {"provider": "bridge", "subject": "s-1", "email_verified": True, **fields}


def test_the_host_gives_the_plugin_its_options_settings_and_a_logger(
    dists, labvault_make_app, caplog
):
    module = dists.add("bridge", BRIDGE)
    with caplog.at_level(logging.INFO, logger="labvault.plugins.bridge"):
        app = labvault_make_app(
            PLUGINS=["bridge"], PLUGIN_OPTIONS={"bridge": {"url": "http://xrd.lab"}}
        )
    (host,) = sys.modules[module].hosts

    assert isinstance(host, Host)
    assert host.plugin_name == "bridge"
    assert host.options == {"url": "http://xrd.lab", "timeout": 10.0}
    assert host.settings["IDENTIFIER_PREFIX"] == "test"
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("labvault.plugins.bridge", "bridge ready at http://xrd.lab")
    ]
    with pytest.raises(TypeError):  # read-only: a plugin cannot change the server's settings
        host.settings["IDENTIFIER_PREFIX"] = "other"  # type: ignore[index]
    host.settings["CORS_ORIGINS"].append("https://evil.example")  # its own copy, if anything
    assert app.extensions["labvault"].settings["CORS_ORIGINS"] == []


def test_sign_in_registers_an_unverified_account_and_returns_working_tokens(bridge):
    app, _ = bridge
    client = app.test_client()

    response = client.post("/bridge/sign-in", json=identity(email="Ada@Lab.example"))

    assert response.status_code == 200, response.json
    me = client.get(
        "/users/me", headers={"Authorization": f"Bearer {response.json['access_token']}"}
    )
    assert me.status_code == 200
    assert (me.json["email"], me.json["status"]) == ("ada@lab.example", "unverified")
    renewed = client.post("/auth/refresh", json={"refresh_token": response.json["refresh_token"]})
    assert renewed.status_code == 200


def test_sign_in_reaches_the_existing_account_of_a_verified_email(bridge, labvault_make_user):
    app, host = bridge
    ada = labvault_make_user(app, role="manager", email="ada@lab.example")

    tokens = host.sign_in(
        Identity("bridge", "s-1", "ADA@lab.example", email_verified=True, display_name="Ada")
    )

    me = app.test_client().get(
        "/users/me", headers={"Authorization": f"Bearer {tokens.access_token}"}
    )
    assert (me.json["id"], me.json["role"], me.json["status"]) == (ada.id, "manager", "active")


@pytest.mark.parametrize(
    "fields",
    [
        {"email": "ada@lab.example", "email_verified": False},
        {"email": None},
        {"email": "not an address"},
    ],
    ids=["unverified-email", "no-email", "bad-email"],
)
def test_an_identity_without_a_verified_email_gets_an_account_of_its_own(
    bridge, labvault_make_user, fields
):
    app, _ = bridge
    ada = labvault_make_user(app, email="ada@lab.example")
    client = app.test_client()

    response = client.post("/bridge/sign-in", json=identity(**fields))

    assert response.status_code == 200, response.json
    bearer = {"Authorization": f"Bearer {response.json['access_token']}"}
    me = client.get("/users/me", headers=bearer).json
    assert (me["email"], me["status"]) == (None, "unverified")
    assert me["id"] != ada.id  # an address nobody verified reaches no account
    again = client.post("/bridge/sign-in", json=identity(**fields)).json["access_token"]
    assert client.get("/users/me", headers={"Authorization": f"Bearer {again}"}).json == me


def test_sign_in_needs_an_enabled_provider_instance(bridge):
    _, host = bridge

    with pytest.raises(NotFound, match="no sign-in provider 'campus' is enabled"):
        host.sign_in(Identity("campus", "s-1", "ada@lab.example", email_verified=True))


def test_sign_in_refuses_a_deactivated_account(bridge, labvault_make_user):
    app, _ = bridge
    labvault_make_user(app, status="deactivated", email="gone@lab.example")

    response = app.test_client().post("/bridge/sign-in", json=identity(email="gone@lab.example"))

    assert (response.status_code, response.json["message"]) == (403, "the account is deactivated")
    with app.app_context():
        user = get_session().scalars(sa.select(User)).one()
        assert user.status == Status.DEACTIVATED


def test_record_version_keeps_a_version_of_the_item(bridge, labvault_make_user):
    app, _ = bridge
    client = app.test_client()
    ada = labvault_make_user(app)
    refcode = create_item(client, ada, name="powder")["refcode"]
    before = current_etag(client, ada, refcode)

    assert client.post(f"/bridge/synced/{refcode}").status_code == 204

    versions = client.get(f"/items/{refcode}/versions", headers=ada.headers).json
    assert [(v["number"], v["action"], v["user"]) for v in versions] == [
        (2, "bridge_sync", None),
        (1, "create", {"id": ada.id, "display_name": ada.email.split("@")[0]}),
    ]
    assert current_etag(client, ada, refcode) != before
    snapshot = client.get(f"/items/{refcode}/versions/2", headers=ada.headers).json["snapshot"]
    assert snapshot["name"] == "powder"

    missing = client.post("/bridge/synced/test:NOSUCH")
    assert (missing.status_code, missing.json["message"]) == (404, "no item test:NOSUCH")


def test_the_session_commits_at_the_end_and_rolls_back_on_an_error(bridge, labvault_make_user):
    app, host = bridge
    ada = labvault_make_user(app)
    refcode = create_item(app.test_client(), ada, name="before")["refcode"]
    rename = sa.text("UPDATE items SET name = :name WHERE refcode = :refcode")

    with pytest.raises(RuntimeError), host.session(write=True) as session:
        session.execute(rename, {"name": "half done", "refcode": refcode})
        raise RuntimeError("the instrument went away")
    with host.session() as session:
        session.execute(rename, {"name": "after", "refcode": refcode})

    with host.session() as session:
        names = session.execute(sa.text("SELECT name FROM items")).scalars().all()
    assert names == ["after"]


def test_the_file_store_keeps_and_opens_content(bridge):
    app, host = bridge
    content = b"2theta,intensity\n10,5\n"

    stored = host.files.store(io.BytesIO(content))
    again = host.files.store(io.BytesIO(content))

    assert (stored.sha256, stored.size) == (again.sha256, len(content))
    with host.files.open(stored.sha256) as stream:
        assert stream.read() == content
    on_disk = [p for p in host.files.root.rglob(stored.sha256)]
    assert on_disk == [
        Path(app.extensions["labvault"].settings["FILE_DIRECTORY"]).joinpath(
            stored.sha256[:2], stored.sha256[2:4], stored.sha256
        )
    ]
    with pytest.raises(ContentTooLarge) as too_large:
        host.files.store(io.BytesIO(b"x" * 11), max_size=10)
    assert too_large.value.status == 413


def test_the_host_works_once_the_app_is_created(dists, startup_problems):
    dists.add(
        "eager",
        """
        from labvault.plugin import FileSource, hookimpl

        class Eager(FileSource):
            name = "eager"

            def __init__(self, instance_name, config, host):
                super().__init__(instance_name, config, host)
                with host.session():
                    pass

        @hookimpl
        def labvault_file_source_types():
            return [Eager]
        """,
    )

    (problem,) = startup_problems(PLUGINS=["eager"], FILE_SOURCES={"nas": {"type": "eager"}})

    assert problem == (
        "FILE_SOURCES.nas: file source type 'eager' of plugin eager could not create this "
        "instance: RuntimeError: plugin eager: the host's database, file store and sign-in "
        "are ready once the app is created (use them from labvault_startup on)"
    )
