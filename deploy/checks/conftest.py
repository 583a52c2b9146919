"""The deploy checks' fixtures: a MariaDB database of their own."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pymysql
import pytest


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A MariaDB database of its own on the machine's server, dropped afterwards."""
    name = f"lv_deploy_{secrets.token_hex(4)}"
    try:
        connection = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True)
    except pymysql.err.OperationalError as error:
        pytest.fail(f"the deploy check needs MariaDB at 127.0.0.1:3306 (root): {error}")
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    try:
        yield f"mysql+pymysql://root@127.0.0.1:3306/{name}?charset=utf8mb4"
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        connection.close()
