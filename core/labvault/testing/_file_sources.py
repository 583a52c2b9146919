"""The tests every file source type passes (:class:`FileSourceContract`), the tree they
read (:func:`make_source_tree`) and :func:`flipping_link`, the racer of the link tests.

Re-exported by :mod:`labvault.testing`, which is where plugin authors import them from
(this module is private to it).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labvault.plugin import LeadsOutside, NotAFile, NotFound

# Another process, so that it flips while the source works (a thread would wait for the
# GIL); each switch is atomic: a new link is renamed over the old one.
_FLIPPER = """
import os, sys
link, spare, targets = sys.argv[1], sys.argv[1] + ".next", sys.argv[2:]
while True:
    for target in targets:
        os.symlink(target, spare)
        os.replace(spare, link)
"""


@contextlib.contextmanager
def flipping_link(link: Path, *targets: str | Path) -> Iterator[None]:
    """While the ``with`` block runs, another process points the link ``link`` at each of
    ``targets`` in turn, as fast as it can (an attacker with write access to a share)."""
    flipper = subprocess.Popen([sys.executable, "-c", _FLIPPER, str(link), *map(str, targets)])
    try:
        deadline = time.monotonic() + 10
        while not link.is_symlink():
            assert flipper.poll() is None, f"the link flipper exited with {flipper.returncode}"
            assert time.monotonic() < deadline, f"the link flipper made no {link}"
            time.sleep(0.01)
        yield
    finally:
        flipper.kill()
        flipper.wait()
        Path(f"{link}.next").unlink(missing_ok=True)


def make_source_tree(root: Path) -> dict[str, bytes]:
    """Fill ``root`` with the tree the contract tests read; returns each file's content.

    ``root/a.txt``, ``root/sub/b.csv``, ``root/sub/deeper/c.bin``, an empty folder
    ``root/empty``, a link ``root/inside`` to ``sub`` and a link ``root/outside`` to a
    folder beside the root, which holds ``secret.txt`` (``b"not yours"``).
    """
    files = {"a.txt": b"hello", "sub/b.csv": b"x,y\n1,2\n", "sub/deeper/c.bin": bytes(range(256))}
    for path, content in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)
    (root / "empty").mkdir()
    outside = root.parent / f"{root.name}-outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"not yours")
    (root / "inside").symlink_to("sub")
    (root / "outside").symlink_to(outside)
    return files


class FileSourceContract:
    """What every file source type must do, as tests: subclass it in a test module and
    give it a fixture ``make_file_source(root: Path) -> FileSource`` serving ``root``.

    The tree comes from :func:`make_source_tree`. Sources are only read, so the tests
    check paths, types, sizes, times, contents, links (also links switched between an
    inside and an outside target while the source opens them) and the core's errors.
    """

    #: Opens per link race test; each must read the inside file or refuse.
    RACE_OPENS = 200

    @pytest.fixture
    def tree(self, tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
        root = tmp_path / "tree"
        root.mkdir()
        return root, make_source_tree(root)

    @pytest.fixture
    def source(self, tree: tuple[Path, dict[str, bytes]], make_file_source: Any) -> Any:
        return make_file_source(tree[0])

    def test_root_is_the_real_path_of_the_served_folder(self, source: Any, tree: Any) -> None:
        assert source.root() == os.path.realpath(tree[0])

    def test_list_gives_the_entries_of_a_folder(self, source: Any, tree: Any) -> None:
        root, _ = tree
        entries = {entry.path: entry for entry in source.list("")}

        assert set(entries) == {"a.txt", "sub", "empty", "inside"}  # "outside" leads out
        a = entries["a.txt"]
        assert (a.name, a.is_dir, a.size, a.link_target) == ("a.txt", False, 5, None)
        assert abs(a.modified - (root / "a.txt").stat().st_mtime) < 1
        assert entries["sub"].is_dir and entries["empty"].is_dir
        deeper = {entry.path for entry in source.list("sub")}
        assert deeper == {"sub/b.csv", "sub/deeper"}
        assert [e.path for e in source.list("sub/deeper")] == ["sub/deeper/c.bin"]
        assert list(source.list("empty")) == []

    def test_links_say_where_they_lead(self, source: Any, tree: Any) -> None:
        root, _ = tree
        entries = {entry.path: entry for entry in source.list("")}

        assert entries["inside"].link_target == os.path.realpath(root / "sub")
        assert entries["inside"].is_dir
        through = source.stat("inside/b.csv")
        assert (through.path, through.size) == ("inside/b.csv", 8)
        assert through.link_target == os.path.realpath(root / "sub" / "b.csv")
        assert source.stat("sub/b.csv").link_target is None
        entry, stream = source.open("inside/b.csv")
        with stream:
            assert stream.read() == b"x,y\n1,2\n"
        assert entry.link_target == os.path.realpath(root / "sub" / "b.csv")

    def test_links_out_of_the_root_are_refused(self, source: Any, tree: Any) -> None:
        root, _ = tree
        (root / "env").symlink_to(root.parent / f"{root.name}-outside" / "secret.txt")
        (root / "sub" / "up").symlink_to(f"../../{root.name}-outside/secret.txt")
        (root / "sub" / "again").symlink_to(root / "a.txt")  # absolute, but inside

        for path in ("outside", "outside/secret.txt", "env", "sub/up"):
            for call in (source.stat, source.open):
                with pytest.raises(LeadsOutside, match="leads outside the file source"):
                    call(path)
        assert {entry.name for entry in source.list("sub")} == {"b.csv", "deeper", "again"}
        entry, stream = source.open("sub/again")
        with stream:
            assert stream.read() == b"hello"
        assert entry.link_target == os.path.realpath(root / "a.txt")

    def test_stat_follows_links_and_tells_folders_from_files(self, source: Any) -> None:
        b = source.stat("sub/b.csv")
        assert (b.path, b.is_dir, b.size) == ("sub/b.csv", False, 8)
        assert source.stat("sub").is_dir
        assert source.stat("inside").is_dir

    def test_open_reads_the_whole_file_and_says_what_it_opened(
        self, source: Any, tree: Any
    ) -> None:
        root, files = tree
        for path, content in files.items():
            entry, stream = source.open(path)
            with stream:
                assert stream.read() == content
            assert (entry.path, entry.is_dir, entry.size) == (path, False, len(content))
            assert abs(entry.modified - (root / path).stat().st_mtime) < 1

    def test_only_regular_files_are_opened(self, source: Any, tree: Any) -> None:
        os.mkfifo(tree[0] / "pipe")  # opening it to read would wait for a writer

        for path in ("sub", "inside", "pipe"):
            with pytest.raises(NotAFile):
                source.open(path)

    def test_missing_paths_are_not_found(self, source: Any) -> None:
        for call in (source.stat, source.open, lambda p: list(source.list(p))):
            with pytest.raises(NotFound):
                call("no/such/file.txt")
        with pytest.raises(NotFound):
            list(source.list("a.txt"))  # a file is no folder

    @pytest.mark.parametrize("flipped", ["file", "folder"])
    def test_a_link_flipped_between_inside_and_outside_never_opens_the_outside_file(
        self, source: Any, tree: Any, flipped: str
    ) -> None:
        root, _ = tree
        outside = root.parent / f"{root.name}-outside"
        (root / "twin").mkdir()
        (root / "twin" / "secret.txt").write_bytes(b"twin")
        # short targets: stored in the link's inode, so that both are switched to as fast
        if flipped == "file":
            path, targets = "flip", ("a.txt", f"../{outside.name}/secret.txt")
        else:
            path, targets = "flip/secret.txt", ("twin", f"../{outside.name}")
        read: Counter[bytes | str] = Counter()

        with flipping_link(root / "flip", *targets):
            for _ in range(self.RACE_OPENS):
                try:
                    _, stream = source.open(path)
                except LeadsOutside:
                    read["refused"] += 1
                    continue
                with stream:
                    read[stream.read()] += 1

        assert read[b"not yours"] == 0, read
        assert set(read) <= {b"hello", b"twin", "refused"}, read
