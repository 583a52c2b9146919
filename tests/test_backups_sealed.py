"""Encrypted repositories are tamper-evident, not only secret.

Whoever keeps the target (a bucket's owner) cannot open what is sealed, and cannot move
it either: an old snapshot's objects copied under a newer id do not open, so verify
reports it, restore refuses it and retention (which would otherwise keep the "newest"
and delete real snapshots) deletes nothing. Each repository derives its keys with a salt
of its own, so two repositories with one passphrase share no key.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from labvault.backups import reports, restore, runs
from labvault.backups.codec import BackupError
from labvault.web.session import get_session

from tests.backup_lab import backups_of, make_app, populate, restore_into

KEY = "k" * 12 + "a-long-random-backup-key-0123"
#: Newer than any snapshot a test takes: what an attacker names a replayed one.
NEWER = "29991231T235959.999999Z"


@pytest.fixture
def sealed(tmp_path, make_database, monkeypatch):
    """Factory of apps on one database and file store (tmp_path/site), with an encrypted
    strategy "nightly" (retention 2) in ``repository`` (default tmp_path/repository)."""
    monkeypatch.setenv("LAB_BACKUP_KEY", KEY)
    url = make_database("sqlite")

    def make(repository: Path | None = None) -> Any:
        target = {"type": "local", "path": str(repository or tmp_path / "repository")}
        return make_app(
            tmp_path / "site",
            url,
            encryption_key_env="LAB_BACKUP_KEY",
            retention=2,
            target=target,
        )

    return make


def run(app: Any) -> str:
    with app.app_context():
        snapshot: str = runs.run_strategy(get_session(), backups_of(app), "nightly")["snapshot"]
    return snapshot


def stored(folder: Path) -> dict[str, bytes]:
    """Every object of a local repository, by key."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file() and ".incoming" not in path.parts
    }


def test_a_replayed_snapshot_is_refused_by_verify_restore_and_retention(
    sealed, labvault_make_user, tmp_path, make_database
):
    app = sealed()
    populate(app, labvault_make_user, files=2)
    first, second = run(app), run(app)
    repository = tmp_path / "repository"
    shutil.copytree(repository / "snapshots" / first, repository / "snapshots" / NEWER)
    before = stored(repository)

    with app.app_context():
        read = reports.verify(
            backups_of(app), "nightly", None
        )  # oldest first: the replayed one last
    assert [report.problems for report in read[:2]] == [[], []]
    assert len(read[2].problems) == 1, "the replayed snapshot verified as a true one"
    assert read[2].problems[0].startswith(f"damaged or forged snapshot: the manifest of {NEWER}")

    other = make_app(tmp_path / "restored", make_database("sqlite"), tables=False)
    with app.app_context():
        source = backups_of(app).strategy("nightly").repository()
    with pytest.raises(BackupError, match="damaged or forged snapshot"):
        restore_into(other, restore.RepositorySource(source, NEWER), tmp_path / "work")

    with pytest.raises(BackupError, match=f"damaged or forged snapshot: the manifest of {NEWER}"):
        run(app)  # the run reads the newest manifest (whose installation?) before it writes
    with app.app_context():
        kept = backups_of(app).strategy("nightly").repository()
    with pytest.raises(BackupError, match=f"damaged or forged snapshot: the manifest of {NEWER}"):
        kept.collect(2)  # retention, had a run got that far, would remove the first
    after = stored(repository)
    assert {key: after.get(key) for key in before} == before, "a run deleted objects"
    snapshots = sorted(path.name for path in (repository / "snapshots").iterdir())
    assert snapshots == [first, second, NEWER]


def test_two_repositories_with_one_passphrase_derive_keys_of_their_own(
    sealed, labvault_make_user, tmp_path
):
    one, two = tmp_path / "repository", tmp_path / "other-repository"
    app = sealed(one)
    populate(app, labvault_make_user, files=2)
    snapshot = run(app)
    other = sealed(two)
    run(other)

    contents = [
        sorted(p.name for p in (folder / "contents").rglob("*") if p.is_file())
        for folder in (one, two)
    ]
    assert len(contents[0]) == 2 and not set(contents[0]) & set(contents[1])
    salts = [json.loads((folder / "repository.json").read_text())["salt"] for folder in (one, two)]
    assert salts[0] != salts[1]
    # the first repository's snapshot, copied into the second under its own id
    shutil.copytree(one / "snapshots" / snapshot, two / "snapshots" / snapshot)
    with other.app_context():
        (report,) = reports.verify(backups_of(other), "nightly", snapshot)
    assert report.problems and report.problems[0].startswith("damaged or forged snapshot")


def test_a_repository_of_an_earlier_format_gets_a_clear_error(sealed, tmp_path):
    repository = tmp_path / "repository"
    repository.mkdir()
    earlier = {
        "format": "labvault-backup-repository",
        "version": 1,
        "encrypted": True,
        "key_check": "TFZCMQ==",
    }
    (repository / "repository.json").write_text(json.dumps(earlier))
    app = sealed()

    with pytest.raises(BackupError) as refused:
        run(app)
    assert refused.value.message == (
        "nightly: the repository was made by an earlier labvault (repository format 1), "
        "which this version cannot read or add to: give the strategy a new place, and "
        "keep the old repository with the version that wrote it"
    )
    with app.app_context():
        (entry,) = reports.overview(get_session(), backups_of(app))
    assert entry["error"] == refused.value.message
