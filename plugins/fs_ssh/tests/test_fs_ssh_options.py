"""The options of an SSH source, checked with the rest of the config at startup."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fs_ssh_peers import Keys
from labvault.plugin import ConfigError, FileSource
from labvault.testing import instances_of


def problems(make_app: Callable[..., Any], **options: Any) -> str:
    with pytest.raises(ConfigError) as raised:
        make_app(PLUGINS=["fs_ssh"], FILE_SOURCES={"xrd": {"type": "ssh", **options}})
    return "\n".join(raised.value.problems)


def test_hostname_username_and_a_key_are_required(labvault_make_app: Callable[..., Any]) -> None:
    found = problems(labvault_make_app)

    assert "FILE_SOURCES.xrd.hostname" in found
    assert "FILE_SOURCES.xrd.username" in found
    assert "FILE_SOURCES.xrd.key_file: give the private key to log in with" in found


def test_the_agent_may_hold_the_key(labvault_make_app: Callable[..., Any]) -> None:
    app = labvault_make_app(
        PLUGINS=["fs_ssh"],
        FILE_SOURCES={"xrd": {"type": "ssh", "hostname": "h", "username": "u", "use_agent": True}},
    )
    assert app is not None


def test_bad_values_are_reported_by_key_path(
    labvault_make_app: Callable[..., Any], ssh_keys: Keys, tmp_path: Path
) -> None:
    found = problems(
        labvault_make_app,
        hostname="xrd-pc",
        username="lab",
        key_file=str(tmp_path / "no_such_key"),
        port=70000,
        connect_timeout=0,
        operation_timeout=-1,
        max_depth=0,
        strict_host_key_checking="sometimes",
        colour="blue",
    )

    assert f"FILE_SOURCES.xrd.key_file: no such file: {tmp_path / 'no_such_key'}" in found
    for key in (
        "port",
        "connect_timeout",
        "operation_timeout",
        "max_depth",
        "strict_host_key_checking",
    ):
        assert f"FILE_SOURCES.xrd.{key}:" in found
    assert "FILE_SOURCES.xrd.colour: unknown option" in found
    assert "jump_host" in found  # the options it takes are listed


def test_a_jump_host_is_checked_too(labvault_make_app: Callable[..., Any], ssh_keys: Keys) -> None:
    found = problems(
        labvault_make_app,
        hostname="xrd-pc",
        username="lab",
        key_file=str(ssh_keys.user_key),
        jump_host={"port": "ssh", "proxy": "yes"},
    )

    assert "FILE_SOURCES.xrd.jump_host.hostname" in found
    assert "FILE_SOURCES.xrd.jump_host.port" in found
    assert "FILE_SOURCES.xrd.jump_host.proxy" in found


def test_a_passphrase_can_come_from_the_environment(
    labvault_make_app: Callable[..., Any], ssh_keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = {
        "hostname": "xrd-pc",
        "username": "lab",
        "key_file": str(ssh_keys.user_key),
        "key_passphrase": {"env": "LABVAULT_TEST_SSH_PASSPHRASE"},
    }

    assert "the environment variable LABVAULT_TEST_SSH_PASSPHRASE is not set" in problems(
        labvault_make_app, **options
    )
    monkeypatch.setenv("LABVAULT_TEST_SSH_PASSPHRASE", "s3cret-phrase")
    app = labvault_make_app(PLUGINS=["fs_ssh"], FILE_SOURCES={"xrd": {"type": "ssh", **options}})
    source = instances_of(app, FileSource)["xrd"]
    assert source.options["key_passphrase"] == "s3cret-phrase"
    assert "s3cret-phrase" not in repr(source.options)  # a logged config does not show it
