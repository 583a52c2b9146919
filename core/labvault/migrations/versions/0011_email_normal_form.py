"""email addresses in their normal form; exact comparison of addresses and subjects

Addresses were lowercased before; now they are kept in Unicode's compatibility caseless
form (labvault.emails), which also makes fullwidth letters ASCII and "ß" "ss". Two
accounts whose addresses become one stop the upgrade before anything is changed. On
MariaDB and MySQL, users.email and identities.subject get a binary collation without
padding, so "käte" no longer finds "kate" (SQLite and PostgreSQL compare exactly).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

import labvault.db
import sqlalchemy as sa
from alembic import op
from labvault.emails import InvalidEmail, normalize_email
from labvault.errors import LabvaultError
from sqlalchemy.dialects import mysql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_users = sa.table("users", sa.column("id", sa.Integer), sa.column("email", sa.String))
_identities = sa.table("identities", sa.column("id", sa.Integer), sa.column("email", sa.String))
#: The columns compared exactly from now on: (table, column, length, nullable).
_EXACT = [("users", "email", 320, True), ("identities", "subject", 255, False)]


def _normal(address: str) -> str:
    # an address that no longer passes as one is left as it is: no lookup can match it
    try:
        return normalize_email(address)
    except InvalidEmail:
        return address


def _normalized(connection: sa.Connection, table: sa.TableClause) -> dict[int, str]:
    """The new address of each row whose address changes."""
    rows = connection.execute(
        sa.select(table.c.id, table.c.email).where(table.c.email.is_not(None))
    )
    return {row_id: _normal(email) for row_id, email in rows if _normal(email) != email}


def _check_no_two_become_one(connection: sa.Connection, changes: dict[int, str]) -> None:
    owners: dict[str, int] = {}
    rows = connection.execute(sa.select(_users.c.id, _users.c.email).order_by(_users.c.id))
    for user_id, email in rows:
        address = changes.get(user_id, email)
        if address is None:
            continue
        if address in owners:
            raise LabvaultError(
                f"users {owners[address]} and {user_id} have the same email address once "
                f"normalized ({address}): give one of them another address or none (UPDATE "
                f"users SET email = NULL WHERE id = {user_id}), then upgrade again"
            )
        owners[address] = user_id


def _alter_exact(exact: bool) -> None:
    for table, column, length, nullable in _EXACT:
        # back: the character set's default collation (a MODIFY naming none keeps the old)
        before = mysql.VARCHAR(length, charset="utf8mb4")
        op.alter_column(
            table,
            column,
            existing_type=sa.String(length),
            type_=labvault.db.ExactString(length) if exact else before,
            existing_nullable=nullable,
        )


def upgrade() -> None:
    connection = op.get_bind()
    user_changes = _normalized(connection, _users)
    # before anything changes: MariaDB commits each ALTER at once
    _check_no_two_become_one(connection, user_changes)
    if connection.dialect.name in ("mysql", "mariadb"):
        # first, so that the new addresses are unique by the new comparison
        _alter_exact(True)
    for table, changes in (
        (_users, user_changes),
        (_identities, _normalized(connection, _identities)),
    ):
        for row_id, address in changes.items():
            connection.execute(sa.update(table).where(table.c.id == row_id).values(email=address))


def downgrade() -> None:
    # the addresses stay in their normal form: the older code finds them as it did
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        _alter_exact(False)
