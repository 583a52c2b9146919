"""A listing rebuilt on every database: its rows replaced in one transaction, in batches."""

from __future__ import annotations

import pytest

from tests.test_sources import entries, names
from tests.test_sources import make_lab as make_lab
from tests.test_sources import tree as tree


@pytest.mark.parametrize(
    "labvault_database_url", ["sqlite", "mariadb", "postgresql"], indirect=True
)
def test_a_rebuild_replaces_the_listing_on_every_database(make_lab, tree):
    _, client, ada = make_lab(settings={"REMOTE_CACHE_MIN_AGE": 0})
    for number in range(2500):  # more than one INSERT batch
        (tree / "big").mkdir(exist_ok=True)
        (tree / "big" / f"{number:04d}.dat").write_bytes(b"1")

    first = entries(client, ada, "big", page_size=1000, page=3)
    assert names(first)[0] == "2000.dat"
    (tree / "big" / "0000.dat").unlink()
    again = entries(client, ada, "big", refresh="true", page_size=5)
    assert names(again) == ["0001.dat", "0002.dat", "0003.dat", "0004.dat", "0005.dat"]
    (source,) = client.get("/file-sources", headers=ada.headers).json
    assert source["entry_count"] == 7 + 1 + 2499
