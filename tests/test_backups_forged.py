"""Forged snapshots: names that would lead a verify or restore out of its own folder.

An attacker who hands over an archive, or who may write into a strategy's repository,
controls every name in it: tar members, the manifest's part names, the contents list,
the keys the target lists. Each forgery below goes through the CLI as a deployer runs
it (`labvault backup verify` and `restore`, `--from-archive` and `--strategy`): the
command says the snapshot is damaged or forged, exits 1, and writes nothing outside its
own temporary folder (``tmp_path/etc`` stands for /etc, where the names point).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from labvault.backups import runs
from labvault.web.session import get_session

from tests.backup_lab import Site, backups_of

ROOT = "labvault-backup"
#: From a site's temporary folder (tmp_path/<site>/tmp/labvault-backup-xxx) to tmp_path.
UP = "../../../"


def back_up(site: Site, archive: Path | None = None) -> None:
    """A true snapshot of the site: into ``archive``, else with its strategy (taken in
    this process: only the forgeries go through the CLI)."""
    app = site.app()
    with app.app_context():
        if archive is not None:
            runs.create_archive(backups_of(app), archive)
        else:
            runs.run_strategy(get_session(), backups_of(app), "nightly")
    app.extensions["labvault"].database.dispose()


def member(name: str, data: bytes = b"forged", **attributes: Any) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data) if "type" not in attributes else 0
    for attribute, value in attributes.items():
        setattr(info, attribute, value)
    return info, data


def forged_member(case: str, outside: Path) -> tuple[tarfile.TarInfo, bytes]:
    """A tar member of a part whose name (or kind) is forged."""
    if case == "parent":
        return member(f"{ROOT}/{UP}etc/cron.d/x")
    if case == "absolute":
        return member(f"{ROOT}/{outside}/cron.d/x")
    if case == "nul":
        info, data = member(f"{ROOT}/dump/x")
        info.pax_headers = {"path": f"{ROOT}/dump/x\0/{UP}etc/x"}
        return info, data
    if case == "backslash":
        return member(f"{ROOT}/..\\..\\..\\etc\\cron.d\\x")
    if case == "empty component":
        return member(f"{ROOT}/dump//x.jsonl")
    if case == "symlink":
        return member(f"{ROOT}/dump/x.jsonl", type=tarfile.SYMTYPE, linkname=f"{outside}/x")
    if case == "hardlink":
        return member(f"{ROOT}/dump/x.jsonl", type=tarfile.LNKTYPE, linkname=f"{outside}/x")
    raise AssertionError(case)


ARCHIVE_CASES = [
    "parent",
    "absolute",
    "nul",
    "backslash",
    "empty component",
    "symlink",
    "hardlink",
]


def forge_archive(
    archive: Path,
    out: Path,
    forged: tuple[tarfile.TarInfo, bytes] | None,
    *,
    manifest_as: str = "",
    **manifest_changes: Any,
) -> None:
    """``archive`` with a forged member first after the manifest, which lists it as a
    part with its true checksum; ``manifest_as`` "symlink" makes the manifest a link."""
    with tarfile.open(archive, "r:gz") as tar:
        members = [(info, tar.extractfile(info).read()) for info in tar]  # type: ignore[union-attr]
    (manifest_info, manifest_data), *rest = members
    manifest = {**json.loads(manifest_data), **manifest_changes}
    if forged is not None:
        info, data = forged
        name = info.pax_headers.get("path", info.name)[len(ROOT) + 1 :]
        manifest["parts"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        rest.insert(0, forged)
    manifest_data = json.dumps(manifest).encode()
    manifest_info.size = len(manifest_data)
    if manifest_as == "symlink":
        manifest_info, manifest_data = member(
            manifest_info.name, type=tarfile.SYMTYPE, linkname="/etc/passwd"
        )
    with tarfile.open(out, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for each, content in [(manifest_info, manifest_data), *rest]:
            tar.addfile(each, io.BytesIO(content) if each.isreg() else None)


def assert_refused_and_nothing_written(done: Any, outside: Path, *sites: Site) -> None:
    output = done.stdout + done.stderr
    assert sorted(outside.rglob("*")) == [], "a forged name wrote outside the restore's folder"
    assert done.returncode == 1, output
    assert "damaged or forged" in output, output
    for site in sites:
        assert sorted(site.temp.iterdir()) == [], "a temporary folder was left behind"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """An empty folder standing for /etc: no command may write into it."""
    folder = tmp_path / "etc"
    folder.mkdir()
    return folder


@pytest.fixture
def empty_site(tmp_path: Path, make_database: Any) -> Site:
    """A second site with an empty database that shares the lab's repository (a restore
    goes there, as after the loss of a server)."""
    return Site(tmp_path / "other", make_database("sqlite"), tmp_path / "lab" / "repository")


@pytest.mark.parametrize("case", ARCHIVE_CASES)
def test_a_forged_archive_is_refused_by_verify_and_restore(
    case, lab_site, empty_site, outside, tmp_path
):
    site = lab_site(files=1)
    archive = tmp_path / "lab.tar.gz"
    back_up(site, archive)
    forged = tmp_path / "forged.tar.gz"
    forge_archive(archive, forged, forged_member(case, outside))

    verified = site.run("backup", "verify", "--from-archive", str(forged))
    assert_refused_and_nothing_written(verified, outside, site)

    restored = empty_site.run("backup", "restore", "--from-archive", str(forged))
    assert_refused_and_nothing_written(restored, outside, empty_site)


def test_an_archive_whose_manifest_is_a_link_is_refused(lab_site, outside, tmp_path):
    site = lab_site(files=0)
    archive = tmp_path / "lab.tar.gz"
    back_up(site, archive)
    forged = tmp_path / "forged.tar.gz"
    forge_archive(archive, forged, member(f"{ROOT}/x"), manifest_as="symlink")

    verified = site.run("backup", "verify", "--from-archive", str(forged))
    assert_refused_and_nothing_written(verified, outside, site)


def test_a_snapshot_of_a_schema_this_version_does_not_know_is_refused(
    lab_site, empty_site, tmp_path
):
    site = lab_site(files=1)
    archive = tmp_path / "lab.tar.gz"
    back_up(site, archive)
    newer = tmp_path / "newer.tar.gz"
    forge_archive(archive, newer, None, revision="9999", labvault_version="9.0.0")

    restored = empty_site.run("backup", "restore", "--from-archive", str(newer))
    assert restored.returncode == 1, restored.stdout + restored.stderr
    assert restored.stderr == (
        "error: the snapshot was taken by labvault 9.0.0, whose database schema (revision "
        "9999) this version does not know: restore it with that version or a later one\n"
    )
    assert not (empty_site.root / "site" / "files").exists(), "contents were placed"


# --- a strategy's repository (local target, not encrypted) ------------------------------


def stored(path: Path) -> Any:
    return json.loads(zlib.decompress(path.read_bytes()))


def store(path: Path, value: Any, *, jsonl: bool = False) -> bytes:
    data = (
        b"".join(json.dumps(line).encode() + b"\n" for line in value)
        if jsonl
        else json.dumps(value).encode()
    )
    path.write_bytes(zlib.compress(data))
    return data


def only_snapshot(site: Site) -> Path:
    (snapshot,) = (site.root / "repository" / "snapshots").iterdir()
    return snapshot


@pytest.mark.parametrize(
    "name",
    ["absolute", f"{UP}etc/cron.d/x", "dump/x\0y", "..\\x", "dump//x", "dump/x\n"],
)
def test_a_manifest_naming_a_part_outside_is_refused(name, lab_site, empty_site, outside):
    site = lab_site(files=1)
    back_up(site)
    precious = outside / "passwd"
    precious.write_text("root:x:0:0\n")
    if name == "absolute":
        name = str(precious)
    snapshot = only_snapshot(site)
    manifest = stored(snapshot / "manifest.json")
    manifest["parts"] = {name: {"sha256": "0" * 64, "size": 6}, **manifest["parts"]}
    store(snapshot / "manifest.json", manifest)

    for where, command in ((site, "verify"), (empty_site, "restore")):
        done = where.run("backup", command, "--strategy", "nightly", snapshot.name)
        output = done.stdout + done.stderr
        assert precious.read_text() == "root:x:0:0\n", "a forged part name truncated a file"
        assert sorted(outside.rglob("*")) == [precious]
        assert done.returncode == 1, output
        assert "damaged or forged" in output, output
        assert sorted(where.temp.iterdir()) == []


LISTED = [[f"{UP}etc/passwd", 6]]


def test_a_contents_list_naming_a_path_is_refused(lab_site, outside):
    site = lab_site(files=1)
    back_up(site)
    snapshot = only_snapshot(site)
    manifest = stored(snapshot / "manifest.json")
    sha256 = hashlib.sha256(b"".join(json.dumps(line).encode() + b"\n" for line in LISTED))
    chunk = site.root / "repository" / "chunks" / sha256.hexdigest()[:2] / sha256.hexdigest()
    chunk.parent.mkdir(parents=True, exist_ok=True)
    data = store(chunk, LISTED, jsonl=True)
    manifest["parts"]["contents.jsonl"] = {
        "sha256": sha256.hexdigest(),
        "size": len(data),
        "chunks": [[sha256.hexdigest(), len(data)]],
    }
    store(snapshot / "manifest.json", manifest)

    done = site.run("backup", "verify", "--strategy", "nightly")
    assert_refused_and_nothing_written(done, outside, site)


def test_keys_a_target_lists_and_snapshot_names_given_are_checked(lab_site, empty_site, outside):
    site = lab_site(files=1)
    back_up(site)
    stray = site.root / "repository" / "contents" / "ab" / "not a key"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"left by someone")

    again = site.run("backup", "create", "--strategy", "nightly")
    assert_refused_and_nothing_written(again, outside, site)
    assert "contents/ab/not a key" in again.stderr
    assert stray.read_bytes() == b"left by someone"
    stray.unlink()

    for where, command in ((site, "verify"), (empty_site, "restore")):
        done = where.run("backup", command, "--strategy", "nightly", f"{UP}etc")
        assert done.returncode == 1, done
        assert done.stderr == f"error: nightly has no snapshot {UP}etc\n"
