"""Imports of .eln archives: the real exports of other ELNs (../shared/eln/examples),
each stated item by item and file by file; archives that lie or attack; importing twice;
and labvault -> .eln -> a fresh labvault -> .eln giving the same archive."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import eln_people
import pytest
from eln_people import link_orcid

EXAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "eln" / "examples"


def example(name: str) -> bytes:
    path = EXAMPLES / name
    assert path.is_file(), f"the ELN Consortium's example {path} is missing"
    return path.read_bytes()


def post_import(client: Any, user: Any, data: bytes, name: str = "archive.eln", **form: Any) -> Any:
    return client.post(
        "/imports",
        data={"file": (io.BytesIO(data), name), **form},
        headers=user.headers,
        content_type="multipart/form-data",
    )


def imported(client: Any, user: Any, data: bytes, name: str = "archive.eln") -> dict[str, Any]:
    response = post_import(client, user, data, name)
    assert response.status_code == 201, response.get_data(as_text=True)
    report: dict[str, Any] = response.json
    return report


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {
            "/".join(p for p in info.filename.split("/") if p): archive.read(info)
            for info in archive.infolist()
            if not info.is_dir()
        }


def files_of(client: Any, user: Any, refcode: str) -> dict[str, dict[str, Any]]:
    response = client.get(f"/items/{refcode}/files", headers=user.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return {f["name"]: f for f in response.json}


def content(client: Any, user: Any, file_id: int) -> bytes:
    response = client.get(f"/files/{file_id}/content", headers=user.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return bytes(response.data)


def test_a_datalab_export_becomes_its_items_with_their_types_fields_and_files(
    app, client, labvault_make_user
):
    alice = labvault_make_user(app)
    data = example("datalab/demo:IBPDKL.eln")
    report = imported(client, alice, data, "demo:IBPDKL.eln")

    assert report["exporter"] == "https://datalab-org.io https://demo.datalab-org.io"
    assert report["created"] == 5 and report["existing"] == 0
    by_key = {item["key"]: item for item in report["items"]}
    assert {k: (v["type"], v["name"]) for k, v in by_key.items()} == {
        "./demo:GGSVCP/": ("starting_material", "N-Methyl-2-pyrrolidone"),
        "./demo:BDERVH/": ("starting_material", "Super P"),
        "./demo:HPPPKI/": (
            "sample",
            "sodium cobalt oxide made by solid state synthesis (2nd attempt)",
        ),
        "./demo:IBPDKL/": ("sample", "NaCoO2 electrode films"),
        "./demo:TBBADR/": ("cell", "NaCoO2 coin cell"),
    }
    parts = members(data)
    super_p = client.get(f"/items/{by_key['./demo:BDERVH/']['refcode']}", headers=alice.headers)
    assert super_p.status_code == 200
    assert super_p.json["cas"] == "1333-86-4"
    assert super_p.json["chemical_formula"] == "C"
    assert super_p.json["supplier"] == "ThermoFisher Scientific"
    assert super_p.json["item_id"] == "ABJ00248"
    cell = by_key["./demo:TBBADR/"]
    files = files_of(client, alice, cell["refcode"])
    mpr = "jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"
    assert set(files) == {mpr, "metadata.json", "imported-metadata.json"}
    # what labvault's cell has no field for is kept, and the report names it
    kept = json.loads(content(client, alice, files["imported-metadata.json"]["id"]))
    assert kept["url"] == "https://purl.datalab-org.io/demo:TBBADR"
    assert kept["positive_electrode"][0]["item"]["item_id"] == "jdb2_e1"
    assert set(cell["unmapped"]) >= {"url", "positive_electrode", "status"}
    original = parts[f"demo:IBPDKL/demo:TBBADR/{mpr}"]
    assert files[mpr]["size"] == len(original) == 2465718
    assert files[mpr]["sha256"] == hashlib.sha256(original).hexdigest()
    assert content(client, alice, files[mpr]["id"]) == original
    # datalab dated the items: so are they here
    film = client.get(f"/items/{by_key['./demo:IBPDKL/']['refcode']}", headers=alice.headers)
    assert film.json["created_at"].startswith("2024-02-22T07:22:00")


#: What each other ELN's example export becomes: each record's item (by name) with its
#: type and files. Every file is checked against the archive's bytes as well.
EXPECTED: dict[str, dict[str, tuple[str, list[str]]]] = {
    "PASTA/PASTA.eln": {
        "PASTAs Example Project": (
            "sample",
            ["Example_SOP.md", "procedure.md", "worklog.log", "workplan.py"],
        ),
        "This is an example task": ("sample", []),
        "This is another example task": ("sample", ["simple.png"]),
        "This is an example subtask": ("sample", []),
        "This is another example subtask": ("sample", []),
        "Data files": ("sample", ["example.tif", "simple.csv", "simple.png"]),
        "Big instrument": ("equipment", []),
        "Sensor": ("equipment", []),
        "Example sample": ("sample", []),
    },
    "PASTA/goldStandard.eln": {
        "1H nuclear magnetic resonance spectroscopy (1H NMR)": (
            "sample",
            ["1H.jcamp", "1H.jpeg", "1H.peak.jdx", "1H.peak.png"],
        ),
        "infrared absorption spectroscopy (IR)": (
            "sample",
            [
                "IR RAJ15.dx",
                "IR RAJ15.infer.json",
                "IR RAJ15.peak.jdx",
                "IR RAJ15.peak.png",
                "IRRQQIV-V.png",
            ],
        ),
        "high-resolution mass spectrometry (HRMS)": ("sample", ["202206031449161000.jpg"]),
        "13C nuclear magnetic resonance spectroscopy (13C NMR)": (
            "sample",
            ["13C.edit.jdx", "13C.edit.png", "13C.infer.json", "13C.jcamp", "13C.jpeg"],
        ),
    },
    "elabftw/export.eln": {
        "Gold master experiment": ("sample", ["example.jpg"]),
        "Facilis illum sed reprehenderit.": ("sample", ["autesse.json"]),
        "Synthesis of Aspirin": ("sample", []),
        "Video microscope Bravo": ("equipment", []),
        "Testing the eLabFTW lab notebook": ("sample", []),
        "Testing relationship between acceleration and gravity": ("sample", []),
        "Effect of temperature on enzyme activity": ("sample", []),
        "フルーツフライの食性に関する研究": ("sample", []),
        "Synthesis and Characterization of a Novel Organic Compound "
        "with Antimicrobial Properties": (
            "sample",
            [],
        ),
        "Transfection of p103Δ12-22 into RPE-1 Actin-RFP": ("sample", []),
        "An example experiment": ("sample", []),
        "Test the grouped extra fields": ("sample", []),
    },
    "kadi4mat/collections-example.eln": {
        "Characterization of a Sample": (
            "sample",
            ["asa.txt", "characterization-of-a-sample.json", "characterization-of-a-sample.ttl"],
        ),
        "Instrument used in experiment": (
            "equipment",
            [
                "Product-flyer_GeminiSEM_360.pdf",
                "instrument-used-in-experiment.json",
                "instrument-used-in-experiment.ttl",
                "zeiss_gemini_360_microscope.jpeg",
            ],
        ),
        "Scripts used in the experiment": (
            "sample",
            [
                "scripts-used-in-the-experiment.json",
                "scripts-used-in-the-experiment.ttl",
                "test_script.py",
            ],
        ),
        "Generated files during experiment": (
            "sample",
            [
                "Test_experiment.csv",
                "generated-files-during-experiment.json",
                "generated-files-during-experiment.ttl",
            ],
        ),
    },
    "kadi4mat/records-example.eln": {
        "records-example": (
            "sample",
            ["example.csv", "example.txt", "records-example.json", "records-example.ttl"],
        ),
    },
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_example_export_of_another_eln_imports_item_by_item_and_file_by_file(
    app, client, labvault_make_user, name
):
    alice = labvault_make_user(app)
    data = example(name)
    dry = post_import(client, alice, data, name.rsplit("/", 1)[1], dry_run="true")
    assert dry.status_code == 200, dry.get_data(as_text=True)
    assert dry.json["dry_run"] is True and all(i["refcode"] is None for i in dry.json["items"])
    assert client.get("/items", headers=alice.headers).json == []  # a dry run writes nothing

    report = imported(client, alice, data, name.rsplit("/", 1)[1])

    expected = EXPECTED[name]
    assert report["created"] == len(expected)
    assert {i["name"]: i["type"] for i in report["items"]} == {
        item_name: item_type for item_name, (item_type, _) in expected.items()
    }
    assert [i["name"] for i in dry.json["items"]] == [i["name"] for i in report["items"]]
    parts = members(data)
    by_sha = {hashlib.sha256(part).hexdigest(): part for part in parts.values()}
    for item in report["items"]:
        shown = client.get(f"/items/{item['refcode']}", headers=alice.headers)
        assert shown.status_code == 200 and shown.json["type"] == item["type"]
        files = files_of(client, alice, item["refcode"])
        wanted = expected[item["name"]][1]
        assert sorted(set(files) - {"imported-metadata.json"}) == sorted(wanted)
        assert ("imported-metadata.json" in files) == bool(item["unmapped"])
        for file_name in wanted:
            stored = files[file_name]
            assert stored["sha256"] in by_sha, f"{file_name} is no part of the archive"
            assert stored["size"] == len(by_sha[stored["sha256"]])
            assert content(client, alice, stored["id"]) == by_sha[stored["sha256"]]
    # and nothing of the archive is dropped unsaid: each part is a file or a note
    described = {f["sha256"] for item in report["items"] for f in item["files"]}
    for path, part in parts.items():
        assert (
            hashlib.sha256(part).hexdigest() in described
            or path.endswith("ro-crate-metadata.json")
            or any(note.startswith(path) for note in report["notes"])
        ), path


def test_an_archive_imported_again_makes_no_second_item(app, client, labvault_make_user):
    alice = labvault_make_user(app)
    data = example("kadi4mat/collections-example.eln")
    first = imported(client, alice, data)
    again = imported(client, alice, data)
    assert again["created"] == 0 and again["existing"] == 4
    assert [i["refcode"] for i in again["items"]] == [i["refcode"] for i in first["items"]]
    assert {i["state"] for i in again["items"]} == {"existing"}
    assert len(client.get("/items", headers=alice.headers).json) == 4


def test_a_pasta_project_keeps_its_tasks_and_samples_as_parts_of_it(
    app, client, labvault_make_user
):
    alice = labvault_make_user(app)
    report = imported(client, alice, example("PASTA/PASTA.eln"))
    refcodes = {i["name"]: i["refcode"] for i in report["items"]}
    sample = client.get(f"/items/{refcodes['Example sample']}", headers=alice.headers).json
    assert sample["relationships"] == [
        {
            "refcode": refcodes["PASTAs Example Project"],
            "item_id": sample["relationships"][0]["item_id"],
            "relation": "is_part_of",
            "description": "",
            "derived": False,
        }
    ]
    # the parts of the archive no entity describes (its signature, its preview) are named
    assert any("ro-crate-preview.html" in note for note in report["notes"])


def test_authors_are_matched_to_accounts_by_email(app, client, labvault_make_user):
    # an admin sees every account (anyone else: those they share items or collections with)
    alice = labvault_make_user(app, role="admin")
    matt = labvault_make_user(app, email="jdbocarsly@gmail.com")
    report = imported(client, alice, example("datalab/demo:IBPDKL.eln"))
    people = {p["name"]: p["user_id"] for p in report["people"]}
    assert people == {"jdbocarsly@gmail.com": matt.id, "Matthew Evans": None}
    film = next(i for i in report["items"] if i["key"] == "./demo:IBPDKL/")
    shown = client.get(f"/items/{film['refcode']}", headers=alice.headers).json
    assert {c["id"] for c in shown["creators"]} == {alice.id, matt.id}
    # the author with no account is kept by name
    files = files_of(client, alice, film["refcode"])
    kept = json.loads(content(client, alice, files["imported-metadata.json"]["id"]))
    assert kept["authors"] == ["Matthew Evans"]


# --- archives that lie, or attack ------------------------------------------------------


def crate_metadata(graph_files: list[dict[str, Any]]) -> dict[str, Any]:
    """The metadata of a small .eln: one dataset holding ``graph_files`` (Files)."""
    return {
        "@context": "https://w3id.org/ro/crate/1.1/context",
        "@graph": [
            {"@id": "ro-crate-metadata.json", "@type": "CreativeWork", "about": {"@id": "./"}},
            {"@id": "./", "@type": "Dataset", "hasPart": [{"@id": "./run/"}]},
            {
                "@id": "./run/",
                "@type": "Dataset",
                "name": "a run",
                "hasPart": [{"@id": f["@id"]} for f in graph_files],
            },
            *graph_files,
        ],
    }


def crate_archive(files: dict[str, bytes], graph_files: list[dict[str, Any]]) -> bytes:
    """A small .eln: :func:`crate_metadata`, and the parts ``files`` (paths under the
    root folder)."""
    metadata = crate_metadata(graph_files)
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("crate/ro-crate-metadata.json", json.dumps(metadata))
        for path, data in files.items():
            archive.writestr(path, data)
    return sink.getvalue()


def a_file(path: str, data: bytes, **more: Any) -> dict[str, Any]:
    return {
        "@id": f"./{path}",
        "@type": "File",
        "name": path.rsplit("/", 1)[-1],
        "sha256": hashlib.sha256(data).hexdigest(),
        "contentSize": str(len(data)),
        **more,
    }


DATA = b"voltage,current\n3.1,0.2\n"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong checksum", "not what the archive says"),
        ("wrong size", "not what the archive says"),
        ("missing file", "does not hold"),
        ("damaged", "damaged in the archive"),
        ("traversal", "outside the archive"),
        ("absolute", "outside the archive"),
        ("link", "is a link"),
        ("bomb", "zip bomb"),
        ("too many parts", "has 7 parts: more than 6"),
        ("no zip", "is no .eln archive"),
        ("no metadata", "is no .eln archive"),
        ("metadata not json", "is not JSON"),
        ("huge metadata", "more than the"),
    ],
)
def test_an_archive_that_lies_or_attacks_is_refused_whole_and_nothing_is_written(
    labvault_make_app, labvault_make_user, labvault_settings, case, message
):
    app = labvault_make_app(
        PLUGINS=["interchange_eln"],
        INTERCHANGE_FORMATS={"eln": {"max_metadata_size": 4096}},
        IMPORT_MAX_PARTS=6,
    )
    client = app.test_client()
    alice = labvault_make_user(app)
    good = a_file("run/data.csv", DATA)
    files = {"crate/run/data.csv": DATA}
    entities = [good]
    if case == "wrong checksum":
        entities = [{**good, "sha256": "0" * 64}]
    elif case == "wrong size":
        entities = [{**good, "contentSize": "3"}]
    elif case == "missing file":
        files = {}
    elif case == "too many parts":
        files = {f"crate/run/{n}.csv": DATA for n in range(6)}
    data = crate_archive(files, entities)
    if case in ("traversal", "absolute", "link", "bomb", "no metadata", "metadata not json"):
        sink = io.BytesIO()
        with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
            if case == "no metadata":
                archive.writestr("crate/run/data.csv", DATA)
            elif case == "metadata not json":
                archive.writestr("crate/ro-crate-metadata.json", b"{not json")
            else:
                archive.writestr("crate/ro-crate-metadata.json", b"{}")
            if case == "traversal":
                archive.writestr("crate/../../etc/cron.d/evil", b"* * * * * root sh")
            elif case == "absolute":
                archive.writestr("/etc/passwd", b"root::0:0")
            elif case == "link":
                info = zipfile.ZipInfo("crate/run/link")
                info.external_attr = 0o120777 << 16
                archive.writestr(info, "/etc/shadow")
            elif case == "bomb":
                archive.writestr("crate/run/zeros.bin", bytes(50 * 1024 * 1024))
        data = sink.getvalue()
    elif case == "no zip":
        data = b"an export, but no zip archive"
    elif case == "damaged":  # a byte of the stored data changed: its CRC is wrong
        sink = io.BytesIO()
        with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("crate/ro-crate-metadata.json", json.dumps(crate_metadata([good])))
            archive.writestr("crate/run/data.csv", DATA)
        data = sink.getvalue().replace(DATA, DATA.replace(b"3.1", b"9.1"), 1)
    elif case == "huge metadata":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = {i.filename: archive.read(i) for i in archive.infolist()}
        metadata = json.loads(parts["crate/ro-crate-metadata.json"])
        metadata["@graph"][2]["description"] = "x" * 10_000
        parts["crate/ro-crate-metadata.json"] = json.dumps(metadata).encode()
        sink = io.BytesIO()
        with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, part in parts.items():
                archive.writestr(path, part)
        data = sink.getvalue()
    store = Path(app.extensions["labvault"].settings["FILE_DIRECTORY"])
    before = sorted(p for p in store.rglob("*") if p.is_file()) if store.exists() else []

    response = post_import(client, alice, data)

    assert response.status_code == 422, response.get_data(as_text=True)
    assert message in response.json["message"], response.json
    assert client.get("/items", headers=alice.headers).json == []
    after = sorted(p for p in store.rglob("*") if p.is_file()) if store.exists() else []
    assert [p for p in after if p.name != ".lock"] == [p for p in before if p.name != ".lock"]


def test_a_good_small_archive_imports_and_its_file_is_stored(app, client, labvault_make_user):
    alice = labvault_make_user(app)
    report = imported(
        client, alice, crate_archive({"crate/run/data.csv": DATA}, [a_file("run/data.csv", DATA)])
    )
    assert report["created"] == 1 and report["items"][0]["name"] == "a run"
    files = files_of(client, alice, report["items"][0]["refcode"])
    assert content(client, alice, files["data.csv"]["id"]) == DATA


def test_an_import_needs_a_verified_account_and_a_format_that_reads(
    app, client, labvault_make_user
):
    alice = labvault_make_user(app)
    data = crate_archive({"crate/run/data.csv": DATA}, [a_file("run/data.csv", DATA)])
    response = client.post(
        "/imports",
        data={"file": (io.BytesIO(data), "a.eln")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 401
    response = post_import(client, alice, data, "a.zip")
    assert response.status_code == 422 and "no format reads a.zip" in response.json["message"]
    response = post_import(client, alice, data, "a.zip", format="eln")
    assert response.status_code == 201


# --- labvault -> .eln -> a fresh labvault -> .eln ---------------------------------------

#: What differs between two exports of the same items: when each was made.
EXPORT_DATES = {
    "ro-crate-metadata.json": ("dateCreated",),
    "./": ("datePublished",),
    "#export": ("endTime",),
}


def without_export_dates(data: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    parts = members(data)
    (path,) = [p for p in parts if p.endswith("/ro-crate-metadata.json")]
    metadata = json.loads(parts.pop(path))
    for entity in metadata["@graph"]:
        for key in EXPORT_DATES.get(entity["@id"], ()):
            entity.pop(key)
    return metadata, parts


def test_labvault_to_eln_to_a_fresh_labvault_to_eln_gives_the_same_archive(
    labvault_make_app, labvault_make_user, tmp_path
):
    from test_eln_export import a_film_with_its_data

    # authors are named by ORCID iD, and matched by it on import
    orcid = {
        "plugins": {"orcid_like": eln_people},
        "AUTH_PROVIDERS": {"orcid": {"type": "orcid_like"}},
    }
    first_app = labvault_make_app(PLUGINS=["interchange_eln"], **orcid)
    first = first_app.test_client()
    alice = labvault_make_user(first_app, email="alice@example.org")
    link_orcid(first_app, alice, "0000-0002-1825-0097")
    film, precursor, cell = a_film_with_its_data(first, alice)
    response = first.post(
        "/collections",
        json={"collection_id": "cathodes", "title": "cathodes"},
        headers=alice.headers,
    )
    assert response.status_code == 201
    response = first.patch(
        f"/items/{cell}",
        json={"collections": ["cathodes"], "status": "cycling"},
        headers={
            **alice.headers,
            "If-Match": first.get(f"/items/{cell}", headers=alice.headers).headers["ETag"],
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    exported = first.get(f"/items/{film}/export.eln?depth=2", headers=alice.headers)
    assert exported.status_code == 200

    fresh = tmp_path / "fresh"
    second_app = labvault_make_app(
        PLUGINS=["interchange_eln"],
        INSTANCE_PATH=str(fresh / "instance"),
        DATABASE_URL=f"sqlite:///{fresh / 'labvault.db'}",
        **orcid,
    )
    second = second_app.test_client()
    again = labvault_make_user(second_app, email="alice@example.org")
    link_orcid(second_app, again, "0000-0002-1825-0097")
    assert again.id == alice.id  # the items' documents name creators by their account's id
    report = imported(second, again, exported.data, f"{film}.eln")
    assert report["created"] == 3
    assert {i["refcode"] for i in report["items"]} == {film, precursor, cell}
    assert [i["unmapped"] for i in report["items"]] == [[], [], []], report["items"]
    exported_again = second.get(f"/items/{film}/export.eln?depth=2", headers=again.headers)
    assert exported_again.status_code == 200

    metadata, files = without_export_dates(exported.data)
    metadata_again, files_again = without_export_dates(exported_again.data)
    assert sorted(files_again) == sorted(files)
    for path, data in files.items():
        if path.endswith(".json"):
            assert json.loads(files_again[path]) == json.loads(data), path
        assert files_again[path] == data, path
    assert metadata_again == metadata


def test_the_command_imports_an_archive_with_a_dry_run_first(
    labvault_make_app, labvault_make_user, labvault_settings, tmp_path
):
    from test_eln_export import labvault

    settings = {**labvault_settings, "PLUGINS": ["interchange_eln"]}
    app = labvault_make_app(**settings)
    alice = labvault_make_user(app)
    config = tmp_path / "config.py"
    config.write_text("".join(f"{k} = {v!r}\n" for k, v in settings.items()))
    archive = EXAMPLES / "kadi4mat" / "records-example.eln"

    dry = labvault(config, "import", str(archive), "--user", alice.email, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "1 items would be created, 0 imported before (eln, from https://kadi" in dry.stdout
    assert app.test_client().get("/items", headers=alice.headers).json == []

    done = labvault(config, "import", str(archive), "--user", alice.email, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["created"] == 1
    refcode = report["items"][0]["refcode"]
    files = files_of(app.test_client(), alice, refcode)
    assert {"example.csv", "example.txt"} <= set(files)

    broken = tmp_path / "broken.eln"
    broken.write_bytes(b"no zip")
    refused = labvault(config, "import", str(broken), "--user", alice.email)
    assert refused.returncode != 0 and "broken.eln is no .eln archive" in refused.stderr
