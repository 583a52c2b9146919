"""`labvault backup` as a deployer runs it: a subprocess per command, output checked.

A backup killed with SIGKILL half way leaves no snapshot and the next run succeeds; an
archive is written, verified, damaged and restored on another site; mistakes get one
line and an exit code, never a traceback.
"""

from __future__ import annotations

import signal

from labvault.testing import wait_until

from tests.backup_lab import Site


def test_a_backup_killed_half_way_leaves_no_snapshot_and_the_next_run_succeeds(lab_site):
    site = lab_site(files=40, file_size=4_000_000)
    contents = site.root / "repository" / "contents"
    process = site.start("backup", "create", "--strategy", "nightly")

    def stored_two_contents() -> bool:
        assert process.poll() is None, process.communicate()
        return contents.is_dir() and len([p for p in contents.rglob("*") if p.is_file()]) >= 2

    wait_until(stored_two_contents, 60, message="the backup never stored a content", interval=0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()

    stored = [p for p in contents.rglob("*") if p.is_file()]
    assert 2 <= len(stored) < 40, "the kill came too late to be half way"
    assert not list((site.root / "repository").rglob("manifest.json"))
    listed = site.run("backup", "list")
    assert listed.returncode == 0 and listed.stdout.splitlines()[1:] == []

    again = site.run("backup", "create", "--strategy", "nightly")
    assert again.returncode == 0, again.stderr
    # the contents the killed run stored are kept; the rest are uploaded now
    assert f"rows, 40 files (160.0 MB), {40 - len(stored)} files uploaded" in again.stdout
    listed = site.run("backup", "list", "--strategy", "nightly")
    assert len(listed.stdout.splitlines()) == 2 and " 40 " in listed.stdout
    verified = site.run("backup", "verify", "--strategy", "nightly")
    assert verified.returncode == 0 and verified.stdout.endswith("no problems\n"), verified


def test_an_archive_is_written_verified_and_restored_on_another_site(
    lab_site, tmp_path, make_database
):
    site = lab_site()
    archive = tmp_path / "lab.tar.gz"

    created = site.run("backup", "create", "--output-path", str(archive))
    assert created.returncode == 0, created.stderr
    assert f"({archive}): " in created.stdout and "4 files" in created.stdout
    assert sorted(p.name for p in tmp_path.iterdir() if "lab" in p.name) == ["lab", "lab.tar.gz"]
    verified = site.run("backup", "verify", "--from-archive", str(archive))
    assert verified.returncode == 0 and "1 snapshot(s), 4 files" in verified.stdout

    damaged = tmp_path / "damaged.tar.gz"
    data = bytearray(archive.read_bytes())
    data[len(data) * 2 // 3] ^= 0xFF
    damaged.write_bytes(bytes(data))
    checked = site.run("backup", "verify", "--from-archive", str(damaged))
    assert checked.returncode == 1
    assert "damaged" in checked.stdout + checked.stderr

    other = Site(tmp_path / "other", make_database("sqlite"))
    restored = other.run("backup", "restore", "--from-archive", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.startswith("restored snapshot ") and "4 files" in restored.stdout
    users = other.run("users", "list")
    assert users.returncode == 0 and users.stdout.count("@example.org") == 3
    again = other.run("backup", "restore", "--from-archive", str(archive))
    assert again.returncode == 1
    assert again.stderr.startswith("error: the database is not empty")


def test_due_runs_what_is_due_and_mistakes_get_one_line(lab_site):
    site = lab_site(files=1)

    first = site.run("backup", "due")
    assert first.returncode == 0 and first.stdout.startswith("snapshot "), first.stderr
    assert site.run("backup", "due").stdout == "no backup is due\n"

    unknown = site.run("backup", "create", "--strategy", "weekly")
    assert unknown.returncode == 1
    assert unknown.stderr == "error: no backup strategy 'weekly'; strategies: nightly\n"
    usage = site.run("backup", "restore")
    assert usage.returncode == 2 and "give --strategy NAME SNAPSHOT, or --from-archive" in (
        usage.stderr
    )
    missing = site.run("backup", "restore", "--strategy", "nightly", "20990101T000000.000000Z")
    assert missing.returncode == 1
    assert missing.stderr == "error: nightly has no snapshot 20990101T000000.000000Z\n"
