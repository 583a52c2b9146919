"""labvault plugin: keep the content of files in an S3 bucket (file store type ``"s3"``).

Works with Amazon S3 and S3-compatible stores (MinIO, Ceph, ...). Enable it with
``PLUGINS = ["files_s3"]`` and name a bucket as the file store::

    FILE_STORE = {"type": "s3", "bucket": "lab-files", "prefix": "labvault/"}
"""

from __future__ import annotations

from labvault.plugin import FileStore, hookimpl

from labvault_files_s3.options import S3FileStoreOptions
from labvault_files_s3.store import S3FileStore, StoreBusy

__all__ = ["S3FileStore", "S3FileStoreOptions", "StoreBusy"]

#: The plugin API this plugin is written against (see plugins/README.md, "Plugin API versions").
LABVAULT_PLUGIN_API = ">=2.0,<3"


@hookimpl
def labvault_file_store_types() -> list[type[FileStore]]:
    return [S3FileStore]
