"""The plugin registers its type; an importer's options are checked with the rest of the
config at startup and reported by key path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from inventory_cheminventory_files import EXCEL_ROWS, HEADER, write_xlsx
from labvault.plugin import ConfigError, InventoryImporter, InventoryRecord
from labvault.testing import instances_of
from labvault_inventory_cheminventory import CheminventoryImporter


def problems(make_app: Callable[..., Any], **options: Any) -> str:
    with pytest.raises(ConfigError) as raised:
        make_app(
            PLUGINS=["inventory_cheminventory"],
            INVENTORY_IMPORTERS={"stores": {"type": "cheminventory", **options}},
        )
    return "\n".join(raised.value.problems)


def test_an_importer_is_configured_by_type_name(
    labvault_make_app: Callable[..., Any], tmp_path: Path
) -> None:
    app = labvault_make_app(
        PLUGINS=["inventory_cheminventory"],
        INVENTORY_IMPORTERS={"stores": {"type": "cheminventory", "description": "Chem stores"}},
    )

    stores = instances_of(app, InventoryImporter)["stores"]
    assert isinstance(stores, CheminventoryImporter)
    assert stores.host.plugin_name == "inventory_cheminventory"
    assert dict(stores.options) == {
        "description": "Chem stores",
        "encoding": "utf-8-sig",
        "sheet": None,
        "max_unpacked_size": 1024**3,
        "max_compression_ratio": 200,
    }
    path = write_xlsx(tmp_path / "export.xlsx", [HEADER, *EXCEL_ROWS])
    with path.open("rb") as stream:
        found = list(stores.read(stream, "export.xlsx"))
    assert [f.external_id for f in found if isinstance(f, InventoryRecord)] == [
        "CI-000101",
        "CI-000102",
        "CI-000103",
    ]


def test_an_unknown_encoding_is_reported_by_key_path(
    labvault_make_app: Callable[..., Any],
) -> None:
    found = problems(labvault_make_app, encoding="nope")

    assert "INVENTORY_IMPORTERS.stores.encoding: not a text encoding Python knows" in found


def test_a_codec_that_is_no_text_encoding_is_refused(
    labvault_make_app: Callable[..., Any],
) -> None:
    assert "INVENTORY_IMPORTERS.stores.encoding:" in problems(labvault_make_app, encoding="base64")


def test_every_bad_option_is_reported(labvault_make_app: Callable[..., Any]) -> None:
    found = problems(
        labvault_make_app,
        sheet="",
        max_unpacked_size=1000,
        max_compression_ratio="high",
        api_token="secret",
    )

    for key in ("sheet", "max_unpacked_size", "max_compression_ratio"):
        assert f"INVENTORY_IMPORTERS.stores.{key}:" in found
    assert "INVENTORY_IMPORTERS.stores.api_token: unknown option" in found
    assert "encoding" in found  # the options it takes are listed


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "UTF-16", "utf_8"])
def test_encodings_python_knows_are_taken(
    labvault_make_app: Callable[..., Any], encoding: str
) -> None:
    app = labvault_make_app(
        PLUGINS=["inventory_cheminventory"],
        INVENTORY_IMPORTERS={"stores": {"type": "cheminventory", "encoding": encoding}},
    )

    stores = instances_of(app, InventoryImporter)
    assert stores["stores"].options["encoding"] == encoding
