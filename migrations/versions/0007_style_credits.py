"""style credits: title, artist, source address and licence of a style (issue 21)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The lengths of contracts.credits.DECLARED_FIELDS when this revision was written (a migration
# keeps its own copy: a later change of the contract must not rewrite history).
COLUMNS = {"title": 200, "artist": 200, "source_url": 2000, "licence": 200}


def upgrade() -> None:
    # Built-in styles registered before this revision get their credit at the API's next start
    # (app.crud.styles.register_builtin_styles); uploaded ones had none declared.
    with op.batch_alter_table("styles") as batch:
        for name, length in COLUMNS.items():
            batch.add_column(sa.Column(name, sa.String(length=length), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("styles") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
