"""Exports (``GET /items/<refcode>/export.<format>``, ``labvault export``) and imports
(``POST /imports``) on every database: what the core hands a format is what the
exporting user may read, no more; what a format reads is made into items all or nothing,
once.

The format here is this module's own (registered as a plugin): it writes what it is
handed as one JSON document, so a test reads exactly what a format gets, and reads
records from a zip's ``records.json``.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from typing import Any

import pytest
from click.testing import CliRunner
from labvault.auth.models import User
from labvault.cli import cli
from labvault.errors import NotFound
from labvault.interchange import exports
from labvault.plugin import (
    Export,
    ImportArchive,
    Imported,
    ImportedFile,
    ImportedLink,
    ImportedRecord,
    InterchangeFormat,
    hookimpl,
)

from tests.plugin_dists import write_config

LABVAULT_PLUGIN_API = ">=2.0,<3"


class Handed(InterchangeFormat):
    """Writes what the core hands it, as JSON."""

    name = "handed"
    file_extension = ".json"
    media_type = "application/json"

    def write(self, export: Export) -> Any:
        yield json.dumps(
            {
                "name": export.name,
                "title": export.title,
                "refcodes": list(export.refcodes),
                "people": {k: [p.name, list(p.identifiers)] for k, p in export.people.items()},
                "items": [
                    {
                        "refcode": item.refcode,
                        "type_name": item.type_name,
                        "fields": dict(item.fields),
                        "creators": list(item.creators),
                        "collections": list(item.collections),
                        "links": [
                            [link.refcode, link.relation, link.exported] for link in item.links
                        ],
                        "files": [[f.name, f.size, f.sha256, f.media_type] for f in item.files],
                        "blocks": [[b.block_type, b.plot is not None] for b in item.blocks],
                        "document": item.document,
                        "versions": [[v.number, v.action] for v in item.versions],
                    }
                    for item in export.items
                ],
            }
        ).encode()

    def read(self, archive: ImportArchive) -> Imported:
        records = json.loads(archive.read("records.json", max_size=1 << 20))
        return Imported(
            exporter="handed-test",
            records=tuple(
                ImportedRecord(
                    key=r["key"],
                    name=r["name"],
                    type=r.get("type"),
                    fields=r.get("fields", {}),
                    files=tuple(
                        ImportedFile(path, path.rsplit("/", 1)[-1]) for path in r.get("files", [])
                    ),
                    links=tuple(ImportedLink(key, "parent") for key in r.get("parents", [])),
                    refcode=r.get("refcode"),
                )
                for r in records
            ),
        )


@hookimpl
def labvault_interchange_formats() -> list[type[InterchangeFormat]]:
    return [Handed]


@pytest.fixture
def app(labvault_make_app: Any) -> Any:
    return labvault_make_app(plugins={"handed": sys.modules[__name__]})


def create(client: Any, user: Any, **body: Any) -> str:
    response = client.post("/items", json=body, headers=user.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    refcode: str = response.json["refcode"]
    return refcode


def handed(
    client: Any, user: Any, refcode: str, depth: int = 0, versions: bool = False
) -> dict[str, Any]:
    query = {"depth": depth, "versions": str(versions).lower()}
    response = client.get(
        f"/items/{refcode}/export.handed", query_string=query, headers=user.headers
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename={refcode.replace(':', '_')}.json"
    )
    document: dict[str, Any] = json.loads(response.data)
    return document


def test_an_export_holds_what_the_user_may_read_and_links_only_to_that(app, labvault_make_user):
    client = app.test_client()
    alice, carol = labvault_make_user(app), labvault_make_user(app)
    shared = {"collection_id": "shared", "shares": [{"user_id": alice.id, "permission": "read"}]}
    assert client.post("/collections", json=shared, headers=carol.headers).status_code == 201
    carols = create(client, carol, type="sample", name="carol's", collections=["shared"])
    film = create(
        client,
        alice,
        type="sample",
        name="film",
        chemical_formula="NaCoO2",
        relationships=[{"refcode": carols, "relation": "parent"}],
    )
    upload = client.post(
        f"/items/{film}/files",
        data={"file": (io.BytesIO(b"x,y\n1,2\n"), "xy.csv")},
        headers=alice.headers,
        content_type="multipart/form-data",
    )
    assert upload.status_code == 201
    block = {"block_type": "tabular", "file_ids": [upload.json["id"]]}
    assert (
        client.post(f"/items/{film}/blocks", json=block, headers=alice.headers).status_code == 201
    )
    cell = create(
        client,
        alice,
        type="cell",
        name="cell",
        relationships=[{"refcode": film, "relation": "parent"}],
    )

    shown = handed(client, alice, film, depth=2)
    assert shown["refcodes"][0] == film  # the item, then those related to it
    assert sorted(shown["refcodes"]) == sorted([film, carols, cell])
    by_refcode = {item["refcode"]: item for item in shown["items"]}
    assert set(by_refcode) == {film, carols, cell}
    assert by_refcode[film]["links"] == [[carols, "parent", True]]
    assert by_refcode[film]["fields"]["chemical_formula"] == "NaCoO2"
    assert by_refcode[film]["type_name"] == "Sample"
    assert by_refcode[film]["files"] == [
        [
            "xy.csv",
            8,
            hashlib.sha256(b"x,y\n1,2\n").hexdigest(),
            "text/csv",
        ]
    ]
    assert by_refcode[film]["blocks"] == [["tabular", True]]
    item = client.get(f"/items/{film}", headers=alice.headers).json
    # as the API shows it, but for the counter of this server's history of it
    assert by_refcode[film]["document"] == {k: v for k, v in item.items() if k != "version"}
    assert by_refcode[film]["versions"] == []  # unless asked
    asked = handed(client, alice, film, versions=True)["items"][0]["versions"]
    assert asked == [[1, "create"], [2, "file_add"], [3, "block_create"]]
    assert sorted(shown["people"]) == sorted([f"user-{alice.id}", f"user-{carol.id}"])
    assert [identifiers for _, identifiers in shown["people"].values()] == [[], []]

    # once carol's sample is no longer shared, alice's export neither holds it nor links to it
    out = client.delete(f"/collections/shared/items/{carols}", headers=carol.headers)
    assert out.status_code == 204
    shown = handed(client, alice, film, depth=2)
    assert sorted(item["refcode"] for item in shown["items"]) == sorted([film, cell])
    film_now = next(item for item in shown["items"] if item["refcode"] == film)
    assert film_now["links"] == []
    assert film_now["document"]["relationships"] == []
    assert list(shown["people"]) == [f"user-{alice.id}"]
    assert client.get(f"/items/{carols}/export.handed", headers=alice.headers).status_code == 404


def test_the_command_exports_a_collection_or_all_the_user_may_read(
    app, labvault_make_user, labvault_settings, tmp_path
):
    client = app.test_client()
    alice, bob = labvault_make_user(app), labvault_make_user(app)
    assert (
        client.post("/collections", json={"collection_id": "c1"}, headers=alice.headers).status_code
        == 201
    )
    members = [
        create(client, alice, type="sample", name=f"in {n}", collections=["c1"]) for n in range(3)
    ]
    outside = create(client, alice, type="equipment", name="balance")
    bobs = create(client, bob, type="sample", name="bob's")
    trashed = create(client, alice, type="sample", name="trashed", collections=["c1"])
    etag = client.get(f"/items/{trashed}", headers=alice.headers).headers["ETag"]
    deleted = client.delete(f"/items/{trashed}", headers={**alice.headers, "If-Match": etag})
    assert deleted.status_code == 204

    # the choice the command makes (this module's format is no installed plugin, which
    # the command's own process would need)
    empty = client.post("/collections", json={"collection_id": "empty"}, headers=alice.headers)
    assert empty.status_code == 201
    state = app.extensions["labvault"]
    exporter = exports.Exporter.of(state)
    with state.database.sessionmaker() as session:
        user = session.get(User, alice.id)
        collection = exporter.export(session, user, exports.choose_collection(session, user, "c1"))
        everything = exporter.export(session, user, exports.choose_all(session, user))
        nothing = exporter.export(session, user, exports.choose_collection(session, user, "empty"))
        assert (nothing.refcodes, list(nothing.items)) == ((), [])
        with pytest.raises(NotFound, match="no collection 'c2'"):
            exports.choose_collection(session, user, "c2")
    assert (collection.name, collection.title) == ("c1", "c1")
    assert sorted(collection.refcodes) == sorted(members)
    assert sorted(item.refcode for item in collection.items) == sorted(members)
    assert sorted(everything.refcodes) == sorted([*members, outside])
    assert bobs not in everything.refcodes and trashed not in everything.refcodes

    config = write_config(tmp_path, **{**labvault_settings, "PLUGINS": []})
    runner = CliRunner(env={"LABVAULT_CONFIG": str(config)})
    # the command itself: its refusals, in one line each
    usage = runner.invoke(cli, ["export", "--user", alice.email, "--all", "--item", members[0]])
    assert usage.exit_code == 2 and "give one of --item, --collection and --all" in usage.output
    depth = runner.invoke(cli, ["export", "--user", alice.email, "--all", "--depth", "1"])
    assert depth.exit_code == 2 and "--depth goes with --item" in depth.output
    no_format = runner.invoke(cli, ["export", "--user", alice.email, "--all"])
    assert no_format.exit_code == 2
    assert "no format 'eln' (enabled: none: enable a plugin that provides one)" in no_format.output


def records_zip(records: list[dict[str, Any]], files: dict[str, bytes]) -> bytes:
    import zipfile

    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w") as archive:
        archive.writestr("records.json", json.dumps(records))
        for path, data in files.items():
            archive.writestr(path, data)
    return sink.getvalue()


def test_an_import_makes_items_files_and_links_once_on_every_database(app, labvault_make_user):
    from labvault.interchange.models import ImportedRecord as Remembered

    client = app.test_client()
    alice = labvault_make_user(app)
    data = records_zip(
        [
            {
                "key": "#precursor",
                "name": "Na2CO3",
                "type": "starting_material",
                "refcode": "test:PRECUR",
            },
            {
                "key": "#made-elsewhere",
                "name": "from a precursor this server has not",
                "type": "sample",
                "fields": {"synthesis_constituents": [{"item": "other:QQQQQQ", "quantity": 2}]},
            },
            {
                "key": "#film",
                "name": "film",
                "type": "no_such_type",
                "fields": {
                    "chemical_formula": "NaCoO2",
                    "colour": "black",
                    "synthesis_constituents": [{"item": "test:PRECUR", "quantity": 2.5}],
                },
                "files": ["run/a.csv"],
                "parents": ["#precursor"],
            },
        ],
        {"run/a.csv": b"t,v\n0,3.1\n"},
    )

    def post(dry_run: bool, who: Any = alice) -> Any:
        return client.post(
            "/imports",
            data={"file": (io.BytesIO(data), "x.json"), "dry_run": str(dry_run).lower()},
            headers=who.headers,
            content_type="multipart/form-data",
        )

    dry = post(True)
    assert dry.status_code == 200, dry.get_data(as_text=True)
    assert client.get("/items", headers=alice.headers).json == []
    done = post(False)
    assert done.status_code == 201, done.get_data(as_text=True)
    report = done.json
    assert [(i["type"], i["unmapped"]) for i in report["items"]] == [
        ("starting_material", []),
        ("sample", ["synthesis_constituents"]),
        ("sample", ["colour"]),
    ]
    assert (
        "#made-elsewhere: names items that are not here or not yours to read (other:QQQQQQ): "
        "kept as metadata"
    ) in report["notes"]
    assert "#film: type 'no_such_type' is not enabled; made a sample" in report["notes"]
    film = client.get(f"/items/{report['items'][2]['refcode']}", headers=alice.headers).json
    assert film["chemical_formula"] == "NaCoO2"
    # the link the record names, and the one its constituent (made by this import) gives
    assert report["items"][0]["refcode"] == "test:PRECUR"
    assert sorted((r["refcode"], r["relation"], r["derived"]) for r in film["relationships"]) == [
        ("test:PRECUR", "parent", False),
        ("test:PRECUR", "parent", True),
    ]
    files = client.get(f"/items/{film['refcode']}/files", headers=alice.headers).json
    by_name = {f["name"]: f for f in files}
    assert set(by_name) == {"a.csv", "imported-metadata.json"} and by_name["a.csv"]["size"] == 10
    kept = client.get(
        f"/files/{by_name['imported-metadata.json']['id']}/content", headers=alice.headers
    )
    assert json.loads(kept.data) == {"colour": "black"}
    again = post(False)
    assert again.status_code == 201 and again.json["existing"] == 3
    assert len(client.get("/items", headers=alice.headers).json) == 3
    # someone else importing it is told it was imported before, and nothing of the items
    # they may not read (the film is alice's; the starting material is lab-wide)
    bob = labvault_make_user(app)
    bobs = post(False, bob)
    assert bobs.status_code == 201 and bobs.json["existing"] == 3
    assert [(i["refcode"], i["name"]) for i in bobs.json["items"]] == [
        (report["items"][0]["refcode"], "Na2CO3"),
        (None, ""),
        (None, ""),
    ]
    with app.extensions["labvault"].database.sessionmaker() as session:
        remembered = session.query(Remembered).order_by(Remembered.id).all()
        assert [(r.format, r.exporter, r.key) for r in remembered] == [
            ("handed", "handed-test", "#precursor"),
            ("handed", "handed-test", "#made-elsewhere"),
            ("handed", "handed-test", "#film"),
        ]


def test_an_export_run_in_the_background_is_downloaded_by_who_asked_for_it(app, labvault_make_user):
    import datetime as dt

    import sqlalchemy as sa
    from labvault.db import begin_write, utcnow
    from labvault.files_gc import collect_garbage
    from labvault.interchange.job import kept_archives
    from labvault.jobs.models import JobRecord
    from labvault.testing import wait_until

    client = app.test_client()
    alice, bob = labvault_make_user(app), labvault_make_user(app)
    made = client.post("/collections", json={"collection_id": "big"}, headers=alice.headers)
    assert made.status_code == 201
    members = [
        create(client, alice, type="sample", name=f"film {n}", collections=["big"])
        for n in range(3)
    ]

    def start(body: dict[str, Any], who: Any = alice) -> Any:
        return client.post("/exports", json=body, headers=who.headers)

    # refused now, not in the background: what it asks for, and who may read it
    for body, status, message in [
        ({"format": "handed"}, 422, "give one of item, collection and all"),
        ({"format": "handed", "all": True, "collection": "big"}, 422, "give one of"),
        ({"format": "handed", "collection": "big", "depth": 1}, 422, "depth goes with item"),
        ({"format": "nope", "all": True}, 404, "no export format 'nope' (enabled: handed)"),
    ]:
        refused = start(body)
        assert (refused.status_code, message in refused.json["message"]) == (status, True)
    assert start({"format": "handed", "collection": "big"}, bob).status_code == 404

    started = start({"format": "handed", "collection": "big"})
    assert started.status_code == 202, started.get_data(as_text=True)
    job_id = started.json["job"]
    assert started.json["download"] == f"/exports/{job_id}/download"
    done = wait_until(
        lambda: (
            seen
            if (seen := client.get(f"/jobs/{job_id}", headers=alice.headers).json)["state"]
            in ("succeeded", "failed")
            else None
        ),
        60,
        message="the export job did not finish",
    )
    assert done["state"] == "succeeded", done
    assert done["result"]["name"] == "big.json" and done["result"]["items"] == 3

    download = client.get(started.json["download"], headers=alice.headers)
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment")
    written = json.loads(download.data)
    assert sorted(item["refcode"] for item in written["items"]) == sorted(members)
    assert hashlib.sha256(download.data).hexdigest() == done["result"]["sha256"]
    # another user's export is as unknown as none
    assert client.get(started.json["download"], headers=bob.headers).status_code == 404
    assert client.get(f"/jobs/{job_id}", headers=bob.headers).status_code == 404
    assert client.get("/exports/999999/download", headers=alice.headers).status_code == 404

    # garbage collection keeps the archive for its week, though no file row names it
    state = app.extensions["labvault"]
    with state.database.sessionmaker() as session:
        assert kept_archives(session) == {done["result"]["sha256"]}
        collect_garbage(session, state.file_store, grace_seconds=0, keep=kept_archives(session))
    assert client.get(started.json["download"], headers=alice.headers).status_code == 200
    # and after it, neither the collection nor the download
    with state.database.sessionmaker() as session:
        begin_write(session)
        week_ago = utcnow() - dt.timedelta(days=8)
        session.execute(
            sa.update(JobRecord).where(JobRecord.id == job_id).values(finished_at=week_ago)
        )
        session.commit()
        assert kept_archives(session) == set()
    gone = client.get(started.json["download"], headers=alice.headers)
    assert gone.status_code == 404 and "was kept 7 days" in gone.json["message"]
