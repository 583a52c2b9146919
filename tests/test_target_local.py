"""The built-in ``local`` backup target keeps the backup target contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from labvault.builtins.target_local import INCOMING, LocalFolder
from labvault.plugin import Unavailable, check_backup_key
from labvault.testing import BackupTargetContract


def local_target(folder: Path) -> LocalFolder:
    options = LocalFolder.OptionsSchema().load({"path": str(folder)})
    return LocalFolder("offsite", options, None)  # type: ignore[arg-type]


class TestLocalFolder(BackupTargetContract):
    @pytest.fixture
    def backup_target(self, tmp_path: Path) -> Any:
        return local_target(tmp_path / "backups")


def test_objects_are_files_and_nothing_is_left_incoming(tmp_path: Path) -> None:
    import io

    target = local_target(tmp_path / "backups")
    target.put("snapshots/2026/manifest.json", io.BytesIO(b"{}"))

    assert (tmp_path / "backups" / "snapshots" / "2026" / "manifest.json").read_bytes() == b"{}"
    assert list((tmp_path / "backups" / INCOMING).iterdir()) == []


def test_a_missing_or_unwritable_folder_is_unavailable_naming_the_target(tmp_path: Path) -> None:
    import io

    (tmp_path / "file").write_text("not a folder")
    target = local_target(tmp_path / "file")

    with pytest.raises(Unavailable, match="backup target offsite: cannot write k"):
        target.put("k", io.BytesIO(b"x"))
    with pytest.raises(Unavailable, match="backup target offsite"):
        list(target.list())


@pytest.mark.parametrize(
    "key",
    ["", "/abs", "a//b", "a/../b", "..", "./a", "a/.", "sp ace", "a\\b", "a\n", "a\0b", "x" * 1001],
)
def test_keys_are_checked(key: str) -> None:
    with pytest.raises(ValueError, match="not a backup key"):
        check_backup_key(key)


def test_good_keys_pass() -> None:
    for key in ("manifest.json", "contents/ab/abcdef0123", "snap-2026-11-30T05_00/x.tar.gz"):
        assert check_backup_key(key) == key


def test_what_killed_puts_left_is_swept_and_emptied_folders_go(tmp_path: Path) -> None:
    import io
    import os

    root = tmp_path / "backups"
    (root / INCOMING).mkdir(parents=True)
    killed, recent = root / INCOMING / "tmpkilled", root / INCOMING / "tmprecent"
    killed.write_bytes(b"half an object")
    recent.write_bytes(b"a put of another moment")
    os.utime(killed, (1, 1))
    target = local_target(root)

    target.put("snapshots/1/dump/items.jsonl", io.BytesIO(b"rows"))
    assert sorted(p.name for p in (root / INCOMING).iterdir()) == ["tmprecent"]

    target.delete("snapshots/1/dump/items.jsonl")
    assert sorted(p.name for p in root.iterdir()) == [INCOMING]


def test_links_in_the_folder_are_never_followed(tmp_path: Path) -> None:
    """Whoever may write into the backup folder cannot lead a put, get or delete
    elsewhere with a link, nor have a link listed as an object."""
    import io

    outside = tmp_path / "outside"
    (outside / "1").mkdir(parents=True)
    (outside / "1" / "manifest.json").write_bytes(b"not the target's")
    (outside / "secret").write_bytes(b"a file outside")
    root = tmp_path / "backups"
    target = local_target(root)
    target.put("contents/ab/abc", io.BytesIO(b"stored"))
    (root / "snapshots").symlink_to(outside)
    (root / "contents" / "ab" / "link").symlink_to(outside / "secret")

    with pytest.raises(Unavailable, match="leads through a link"):
        target.put("snapshots/2/manifest.json", io.BytesIO(b"{}"))
    with pytest.raises(Unavailable, match="leads through a link"):
        target.get("snapshots/1/manifest.json")
    with pytest.raises(Unavailable, match="leads through a link"):
        target.get("contents/ab/link")
    with pytest.raises(Unavailable, match="leads through a link"):
        target.delete("snapshots/1/manifest.json")
    with pytest.raises(Unavailable, match="leads through a link"):
        target.exists("snapshots/1/manifest.json")
    assert list(target.list()) == ["contents/ab/abc"]

    assert sorted(p.relative_to(outside).as_posix() for p in outside.rglob("*")) == [
        "1",
        "1/manifest.json",
        "secret",
    ]
    assert (outside / "1" / "manifest.json").read_bytes() == b"not the target's"


def test_a_listing_walks_only_the_folders_its_prefix_can_lead_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listing the snapshots opens no folder of the contents or chunks (thousands of
    them in a repository), and lists the same keys as the whole tree filtered."""
    import io
    import os

    root = tmp_path / "backups"
    target = local_target(root)
    keys = [
        "chunks/ab/ab12",
        "config",
        "contents/ab/abc",
        "contents/cd/cde",
        "snapshots/2026a/manifest.json",
        "snapshots/2026b/manifest.json",
        "snapshots/2026b/parts/items",
        "snapshotsX/other",
    ]
    for key in keys:
        target.put(key, io.BytesIO(b"x"))
    walked: list[str] = []
    walk = os.fwalk

    def recording(*args: Any, **kwargs: Any) -> Any:
        for entry in walk(*args, **kwargs):
            walked.append(Path(entry[0]).relative_to(root).as_posix())
            yield entry

    monkeypatch.setattr(os, "fwalk", recording)

    assert list(target.list("snapshots/")) == keys[4:7]
    assert sorted(walked) == [".", "snapshots", "snapshots/2026a", "snapshots/2026b",
                              "snapshots/2026b/parts"]  # fmt: skip
    for prefix in ("", "c", "contents/", "contents/c", "snapshots", "snapshots/2026b/",
                   "snapshots/2026b/p", "config", "none/"):  # fmt: skip
        assert list(target.list(prefix)) == [k for k in keys if k.startswith(prefix)], prefix
