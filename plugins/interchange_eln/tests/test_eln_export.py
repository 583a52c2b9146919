"""Exports to .eln: what an archive holds, checked entry by entry, and the ELN
Consortium's own checks passing on exports of an item, a collection and a database."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from eln_checks import run_consortium_checks
from eln_people import link_orcid

CSV = b"time,voltage\n0,3.1\n1,3.4\n2,3.9\n"


def create(client: Any, user: Any, **body: Any) -> str:
    response = client.post("/items", json=body, headers=user.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    refcode: str = response.json["refcode"]
    return refcode


def upload(client: Any, user: Any, refcode: str, name: str, data: bytes) -> int:
    response = client.post(
        f"/items/{refcode}/files",
        data={"file": (io.BytesIO(data), name)},
        headers=user.headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    file_id: int = response.json["id"]
    return file_id


def exported(client: Any, user: Any, refcode: str, **query: Any) -> zipfile.ZipFile:
    response = client.get(f"/items/{refcode}/export.eln", query_string=query, headers=user.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return zipfile.ZipFile(io.BytesIO(response.data))


def crate(archive: zipfile.ZipFile) -> tuple[str, dict[str, dict[str, Any]]]:
    """The archive's root folder and its entities by @id."""
    roots = {name.split("/")[0] for name in archive.namelist()}
    assert len(roots) == 1, roots
    root = roots.pop()
    metadata = json.loads(archive.read(f"{root}/ro-crate-metadata.json"))
    assert metadata["@context"] == "https://w3id.org/ro/crate/1.1/context"
    entities = {entity["@id"]: entity for entity in metadata["@graph"]}
    assert len(entities) == len(metadata["@graph"]), "an @id is used twice"
    return root, entities


def member(root: str, entity_id: str) -> str:
    return f"{root}/{unquote(entity_id.removeprefix('./'))}"


def a_film_with_its_data(client: Any, alice: Any) -> tuple[str, str, str]:
    """A sample with a CSV, a table block of it, a precursor and a cell made from it."""
    precursor = create(client, alice, type="starting_material", name="Na2CO3", cas="497-19-8")
    film = create(
        client,
        alice,
        type="sample",
        name="NaCoO2 film",
        description="Annealed at 900 C.",
        chemical_formula="NaCoO2",
        relationships=[{"refcode": precursor, "relation": "parent"}],
    )
    file_id = upload(client, alice, film, "cycling.csv", CSV)
    block = client.post(
        f"/items/{film}/blocks",
        json={"block_type": "tabular", "title": "voltage", "file_ids": [file_id]},
        headers=alice.headers,
    )
    assert block.status_code == 201, block.get_data(as_text=True)
    cell = create(
        client,
        alice,
        type="cell",
        name="coin cell",
        cell_format="coin",
        relationships=[{"refcode": film, "relation": "parent"}],
    )
    return film, precursor, cell


def test_an_item_export_names_every_file_with_its_size_and_checksum(
    app, client, labvault_make_user
):
    alice = labvault_make_user(app)
    link_orcid(app, alice, "0000-0002-1825-0097")
    film, precursor, cell = a_film_with_its_data(client, alice)

    archive = exported(client, alice, film, depth=1)
    root, entities = crate(archive)

    assert root == film.replace(":", "_")
    listed = {
        e["identifier"]: e
        for e in entities.values()
        if e["@type"] == "Dataset" and e["@id"] != "./"
    }
    assert set(listed) == {film, precursor, cell}
    assert sorted(part["@id"] for part in entities["./"]["hasPart"]) == sorted(
        f"./{refcode.replace(':', '_')}/" for refcode in (film, precursor, cell)
    )
    dataset = listed[film]
    assert dataset["name"] == "NaCoO2 film"
    assert dataset["text"] == "Annealed at 900 C."
    sample = client.get("/item-types/sample", headers=alice.headers).json
    assert dataset["genre"] == sample["display_name"]
    assert dataset["creativeWorkStatus"] == "planned"
    assert dataset["author"] == {"@id": "https://orcid.org/0000-0002-1825-0097"}
    person = entities["https://orcid.org/0000-0002-1825-0097"]
    assert person["@type"] == "Person" and person["identifier"] == person["@id"]
    # each item's own relationships, as the API shows them, to the items exported with it
    assert dataset["mentions"] == [{"@id": f"./{precursor.replace(':', '_')}/"}]
    assert listed[cell]["mentions"] == [{"@id": f"./{film.replace(':', '_')}/"}]
    assert "mentions" not in listed[precursor]
    values = {
        entities[v["@id"]]["propertyID"]: entities[v["@id"]]["value"]
        for v in dataset["variableMeasured"]
    }
    assert values["chemical_formula"] == "NaCoO2"

    # every file of the item: in the archive, with its size and sha256
    files = {entities[part["@id"]]["name"]: entities[part["@id"]] for part in dataset["hasPart"]}
    assert set(files) == {
        "cycling.csv",
        "voltage (tabular block)",
        "voltage (plot)",
        "labvault-item.json",
    }
    for entity in files.values():
        data = archive.read(member(root, entity["@id"]))
        assert entity["@type"] == "File"
        assert entity["contentSize"] == str(len(data))
        assert entity["sha256"] == hashlib.sha256(data).hexdigest()
    assert archive.read(member(root, files["cycling.csv"]["@id"])) == CSV
    assert files["cycling.csv"]["encodingFormat"] == "text/csv"
    assert archive.read(member(root, files["voltage (plot)"]["@id"])).startswith(b"\x89PNG")
    block = json.loads(archive.read(member(root, files["voltage (tabular block)"]["@id"])))
    assert block["block_type"] == "tabular" and block["computed"]["row_count"] == 3
    # the item as the API shows it, for labvault to read back
    document = json.loads(archive.read(member(root, files["labvault-item.json"]["@id"])))
    shown = client.get(f"/items/{film}", headers=alice.headers).json
    assert document == {k: v for k, v in shown.items() if k != "version"}

    software = entities["https://pypi.org/project/labvault/"]
    assert software["@type"] == "SoftwareApplication" and software["name"] == "labvault"
    assert entities["#export"]["instrument"] == {"@id": software["@id"]}
    assert entities["ro-crate-metadata.json"]["sdPublisher"] == {"@id": "http://localhost"}


def labvault(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A labvault command, as a deployer runs it with the site's config.py."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "labvault"), *args],
        env={**os.environ, "LABVAULT_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_exports_of_an_item_a_collection_and_a_database_pass_the_consortium_checks(
    labvault_make_app, labvault_make_user, labvault_settings, tmp_path
):
    settings = {**labvault_settings, "PLUGINS": ["interchange_eln"]}
    app = labvault_make_app(**settings)
    client = app.test_client()
    alice, bob = labvault_make_user(app), labvault_make_user(app)
    film, precursor, cell = a_film_with_its_data(client, alice)
    response = client.post(
        "/collections",
        json={"collection_id": "cathodes", "title": "Cathodes"},
        headers=alice.headers,
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    in_collection = [
        create(client, alice, type="sample", name=f"film {n}", collections=["cathodes"])
        for n in range(3)
    ]
    hidden = create(client, bob, type="sample", name="bob's own")
    item = client.get(f"/items/{film}/export.eln?depth=2", headers=alice.headers)
    assert item.status_code == 200

    config = tmp_path / "config.py"
    config.write_text("".join(f"{k} = {v!r}\n" for k, v in settings.items()))
    archives = {"item": item.data}
    for name, selection in {
        "collection": ["--collection", "cathodes"],
        "database": ["--all"],
    }.items():
        output = tmp_path / f"{name}.eln"
        done = labvault(config, "export", "--user", alice.email, *selection, "-o", str(output))
        assert done.returncode == 0, done.stderr
        count = 3 if name == "collection" else 6
        assert (
            done.stdout == f"{count} items exported to {output} ({output.stat().st_size} bytes)\n"
        )
        archives[name] = output.read_bytes()
        assert not list(tmp_path.glob(f".{name}.eln.partial-*"))

    def identifiers(data: bytes) -> set[str]:
        _, entities = crate(zipfile.ZipFile(io.BytesIO(data)))
        return {
            e["identifier"]
            for e in entities.values()
            if e["@type"] == "Dataset" and e["@id"] != "./"
        }

    assert identifiers(archives["item"]) == {film, precursor, cell}
    assert identifiers(archives["collection"]) == set(in_collection)
    # everything alice may read: not bob's private sample
    assert identifiers(archives["database"]) == {film, precursor, cell, *in_collection}
    assert hidden not in identifiers(archives["database"])

    results = run_consortium_checks(archives, tmp_path / "checks")
    assert set(results) == {"item", "collection", "database"}


def test_files_are_streamed_a_chunk_at_a_time(app, client, labvault_make_user):
    alice = labvault_make_user(app)
    refcode = create(client, alice, type="sample", name="big data")
    data = os.urandom(5 * 2**20 + 17)  # random bytes do not deflate: the entry is as big
    upload(client, alice, refcode, "spectrum.bin", data)

    response = client.get(f"/items/{refcode}/export.eln", headers=alice.headers, buffered=False)
    assert response.status_code == 200
    assert response.is_streamed
    assert response.headers["Content-Type"] == "application/vnd.eln+zip"
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename={refcode.replace(':', '_')}.eln"
    )
    chunks = list(response.response)
    response.close()
    assert len(chunks) > 5 and max(len(chunk) for chunk in chunks) < 1.1 * 2**20
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    root, entities = crate(archive)
    (stored,) = [e for e in entities.values() if e.get("name") == "spectrum.bin"]
    assert archive.read(member(root, stored["@id"])) == data
    assert stored["sha256"] == hashlib.sha256(data).hexdigest()


def test_file_names_stay_in_their_item_folder_each_once(app, client, labvault_make_user):
    alice = labvault_make_user(app)
    refcode = create(client, alice, type="sample", name="names")
    contents = {
        "run 1: V?.csv": b"a",
        "data.csv": b"b",
        "labvault-item.json": b"c",
        "..": b"d",
    }
    for name, data in contents.items():
        upload(client, alice, refcode, name, data)
    upload(client, alice, refcode, "data.csv", b"e")  # the same name, other content

    archive = exported(client, alice, refcode)
    root, entities = crate(archive)
    folder = f"{root}/{refcode.replace(':', '_')}/"
    names = archive.namelist()
    assert len(names) == len(set(names))
    assert all(
        name.startswith(folder) or name == f"{root}/ro-crate-metadata.json" for name in names
    )
    assert not any(part in {"", ".", ".."} for name in names for part in name.split("/"))
    assert sorted(name.removeprefix(folder) for name in names if name.startswith(folder)) == [
        "data-2.csv",
        "data.csv",
        "file",  # ".." as the server keeps it
        "labvault-item-2.json",  # an upload of that name does not replace the item's own
        "labvault-item.json",
        "run 1_ V_.csv",  # ":" and "?": names Windows refuses
    ]
    files = {e["@id"]: e for e in entities.values() if e["@type"] == "File"}
    assert len(files) == len(names) - 1  # each but the metadata, once
    for entity in files.values():
        data = archive.read(member(root, entity["@id"]))
        assert hashlib.sha256(data).hexdigest() == entity["sha256"]
    shown = {
        e["name"]: archive.read(member(root, e["@id"]))
        for e in files.values()
        if e["name"] != "data.csv"
    }
    assert shown["run 1: V?.csv"] == b"a" and shown["file"] == b"d"
    assert json.loads(archive.read(f"{folder}labvault-item.json"))["refcode"] == refcode
    assert archive.read(f"{folder}labvault-item-2.json") == b"c"
    assert {archive.read(f"{folder}data.csv"), archive.read(f"{folder}data-2.csv")} == {b"b", b"e"}


def test_exports_follow_what_the_user_may_read(app, client, labvault_make_user):
    alice, bob = labvault_make_user(app), labvault_make_user(app)
    refcode = create(client, alice, type="sample", name="alice's")

    assert client.get(f"/items/{refcode}/export.eln", headers=bob.headers).status_code == 404
    assert client.get(f"/items/{refcode}/export.eln").status_code == 401
    unknown = client.get(f"/items/{refcode}/export.zip", headers=alice.headers)
    assert unknown.status_code == 404
    assert unknown.json["message"] == "no export format 'zip' (enabled: eln)"
    too_deep = client.get(f"/items/{refcode}/export.eln?depth=6", headers=alice.headers)
    assert too_deep.status_code == 422
    assert "depth" in too_deep.json["errors"]["query"]


def test_the_license_is_the_deployers(labvault_make_app, labvault_make_user):
    license_url = "https://creativecommons.org/licenses/by/4.0/"
    app = labvault_make_app(
        PLUGINS=["interchange_eln"], INTERCHANGE_FORMATS={"eln": {"license": license_url}}
    )
    client = app.test_client()
    alice = labvault_make_user(app)
    refcode = create(client, alice, type="sample", name="open data")
    _, entities = crate(exported(client, alice, refcode))
    assert entities["./"]["license"] == {"@id": license_url}
    assert entities[license_url]["@type"] == "CreativeWork"


def test_an_unknown_option_stops_startup_naming_it(labvault_make_app):
    from labvault.plugin import ConfigError

    with pytest.raises(ConfigError) as failure:
        labvault_make_app(
            PLUGINS=["interchange_eln"], INTERCHANGE_FORMATS={"eln": {"licence": "x"}}
        )
    assert failure.value.problems == [
        "INTERCHANGE_FORMATS.eln.licence: unknown option (interchange format 'eln' takes: "
        "license, max_metadata_size)"
    ]


def test_versions_are_exported_when_asked(app, client, labvault_make_user):
    alice = labvault_make_user(app)
    refcode = create(client, alice, type="sample", name="first name")
    etag = client.get(f"/items/{refcode}", headers=alice.headers).headers["ETag"]
    renamed = client.patch(
        f"/items/{refcode}",
        json={"name": "second name"},
        headers={**alice.headers, "If-Match": etag},
    )
    assert renamed.status_code == 200
    folder = refcode.replace(":", "_")

    without = exported(client, alice, refcode)
    assert not [name for name in without.namelist() if "/versions/" in name]

    archive = exported(client, alice, refcode, versions="true")
    root, entities = crate(archive)
    versions = [e for e in entities.values() if e["@id"].startswith(f"./{folder}/versions/")]
    assert sorted((e["@id"], e["name"]) for e in versions) == [
        (f"./{folder}/versions/1.json", "version 1 (create)"),
        (f"./{folder}/versions/2.json", "version 2 (update)"),
    ]
    for number in (1, 2):
        document = json.loads(archive.read(f"{root}/{folder}/versions/{number}.json"))
        shown = client.get(f"/items/{refcode}/versions/{number}", headers=alice.headers).json
        assert document == shown
    assert {v["@id"] for v in versions} <= {
        part["@id"] for part in entities[f"./{folder}/"]["hasPart"]
    }
