"""labvault plugin: raw data from a folder on another machine over SSH (source type ``"ssh"``).

Only SFTP is used: nothing runs or is installed on the remote host. Enable it with
``PLUGINS = ["fs_ssh"]`` and configure a source::

    FILE_SOURCES = {
        "xrd-pc": {
            "type": "ssh",
            "hostname": "xrd-pc.lab.example.org",
            "username": "labvault",
            "key_file": "/etc/labvault/xrd-pc_ed25519",
            "root": "/data/exports",
        }
    }
"""

from __future__ import annotations

from labvault.plugin import FileSource, hookimpl

from labvault_fs_ssh.options import JumpHostOptions, SshOptions
from labvault_fs_ssh.source import SshSource

__all__ = ["JumpHostOptions", "SshOptions", "SshSource"]

#: The plugin API this plugin is written against (see plugins/README.md, "Plugin API versions").
LABVAULT_PLUGIN_API = ">=2.0,<3"


@hookimpl
def labvault_file_source_types() -> list[type[FileSource]]:
    return [SshSource]
