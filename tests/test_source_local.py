"""The built-in ``local`` file source keeps the file source contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from labvault.builtins.source_local import LocalFolder
from labvault.testing import FileSourceContract


class TestLocalFolder(FileSourceContract):
    @pytest.fixture
    def make_file_source(self) -> Any:
        def make(root: Path) -> LocalFolder:
            options = LocalFolder.OptionsSchema().load({"path": str(root)})
            return LocalFolder("data", options, None)  # type: ignore[arg-type]

        return make
