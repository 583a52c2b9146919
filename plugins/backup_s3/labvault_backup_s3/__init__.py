"""labvault plugin: keep backups in an S3 bucket (backup target type ``"s3"``).

Works with Amazon S3 and S3-compatible stores (MinIO, Ceph, ...). Enable it with
``PLUGINS = ["backup_s3"]`` and name a bucket as a strategy's target::

    BACKUP_STRATEGIES = {
        "offsite": {
            "target": {"type": "s3", "bucket": "lab-backups", "prefix": "labvault/"},
            "frequency": "1d",
            "retention": 14,
        }
    }
"""

from __future__ import annotations

from labvault.plugin import BackupTarget, hookimpl

from labvault_backup_s3.options import S3Options
from labvault_backup_s3.target import S3Bucket

__all__ = ["S3Bucket", "S3Options"]

#: The plugin API this plugin is written against (see plugins/README.md, "Plugin API versions").
LABVAULT_PLUGIN_API = ">=2.0,<3"


@hookimpl
def labvault_backup_target_types() -> list[type[BackupTarget]]:
    return [S3Bucket]
