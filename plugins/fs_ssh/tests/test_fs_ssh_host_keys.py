"""Host keys and logins: what a deployer sees when the host is unknown, its key
changed, or it refuses the user's key."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fs_ssh_peers import Sshd, make_key, openssh_fingerprint
from labvault.testing import unavailable_within
from labvault_fs_ssh import SshSource

MakeSource = Callable[..., SshSource]


def refusal(source: SshSource) -> str:
    with unavailable_within(5) as raised:  # refused at once, not after a timeout
        source.list("")
    return str(raised.value)


def test_an_unknown_host_key_is_refused_with_its_fingerprint(
    sshd: Sshd, make_ssh_source: MakeSource, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")

    message = refusal(make_ssh_source(sshd, known_hosts=str(empty)))

    fingerprint = openssh_fingerprint(Path(f"{sshd.keys.host_key}.pub"))
    assert f"host key of [127.0.0.1]:{sshd.port} is not in {empty}" in message
    assert fingerprint in message
    assert "check it and add it" in message
    assert f"ssh-keyscan -p {sshd.port} 127.0.0.1 >> {empty}" in message


def test_a_missing_known_hosts_file_knows_no_host(
    sshd: Sshd, make_ssh_source: MakeSource, tmp_path: Path
) -> None:
    message = refusal(make_ssh_source(sshd, known_hosts=str(tmp_path / "nothing")))

    assert f"is not in {tmp_path / 'nothing'}" in message


def test_a_changed_host_key_is_refused_naming_both_fingerprints(
    sshd: Sshd, make_ssh_source: MakeSource, tmp_path: Path
) -> None:
    other = make_key(tmp_path / "other_host_key")
    key_type, key = Path(f"{other}.pub").read_text().split()[:2]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {key_type} {key}\n")

    # even when unknown keys are accepted: a changed one is never
    for strict in (True, False):
        source = make_ssh_source(
            sshd, known_hosts=str(known_hosts), strict_host_key_checking=strict
        )
        message = refusal(source)

        assert f"[127.0.0.1]:{sshd.port}" in message and "CHANGED" in message
        assert openssh_fingerprint(Path(f"{other}.pub")) in message
        assert openssh_fingerprint(Path(f"{sshd.keys.host_key}.pub")) in message
        assert "possible man-in-the-middle" in message


def test_without_strict_checking_an_unknown_host_is_read(
    sshd: Sshd, make_ssh_source: MakeSource, tmp_path: Path
) -> None:
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "a.txt").write_text("hi")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    source = make_ssh_source(
        sshd, tmp_path / "tree", known_hosts=str(known_hosts), strict_host_key_checking=False
    )

    assert [entry.path for entry in source.list("")] == ["a.txt"]
    assert known_hosts.read_text() == ""  # accepting is no reason to write the file


def test_a_refused_user_key_names_user_and_host(
    sshd: Sshd, make_ssh_source: MakeSource, tmp_path: Path
) -> None:
    stranger = make_key(tmp_path / "stranger_ed25519")

    message = refusal(make_ssh_source(sshd, key_file=str(stranger)))

    assert f"{sshd.keys.username}@127.0.0.1 refused the key" in message
    assert str(stranger) in message


def test_an_encrypted_key_needs_its_passphrase(
    own_sshd: Sshd, make_ssh_source: MakeSource, tmp_path: Path
) -> None:
    locked = tmp_path / "locked_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "open sesame", "-f", str(locked)], check=True
    )
    (own_sshd.folder / "authorized_keys").write_text(
        Path(f"{own_sshd.keys.user_key}.pub").read_text() + Path(f"{locked}.pub").read_text()
    )

    message = refusal(make_ssh_source(own_sshd, key_file=str(locked)))
    assert "key_passphrase" in message

    message = refusal(make_ssh_source(own_sshd, key_file=str(locked), key_passphrase="guess-42"))
    assert "key_passphrase is wrong" in message
    assert "guess-42" not in message  # never the secret

    unlocked = make_ssh_source(
        own_sshd, tmp_path, key_file=str(locked), key_passphrase="open sesame"
    )
    assert unlocked.root() == str(tmp_path.resolve())


def test_the_jump_hosts_key_is_checked_too(
    sshd: Sshd,
    jump_sshd: Sshd,
    make_ssh_source: MakeSource,
    through_jump_host: Callable[[Sshd], dict[str, Any]],
) -> None:
    options = through_jump_host(sshd)
    Path(options["known_hosts"]).write_text(sshd.known_hosts_line())  # the jump host's is not

    message = refusal(make_ssh_source(sshd, **options))

    assert f"host key of [127.0.0.1]:{jump_sshd.port} is not in" in message


def test_a_jump_host_that_does_not_forward_says_so(
    sshd: Sshd, own_sshd: Sshd, make_ssh_source: MakeSource, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "both"
    known_hosts.write_text(sshd.known_hosts_line() + own_sshd.known_hosts_line())
    jump = {"hostname": "127.0.0.1", "port": own_sshd.port}  # AllowTcpForwarding no

    message = refusal(make_ssh_source(sshd, known_hosts=str(known_hosts), jump_host=jump))

    assert (
        f"jump host 127.0.0.1:{own_sshd.port} does not forward to 127.0.0.1:{sshd.port}" in message
    )
