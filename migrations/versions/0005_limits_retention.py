"""per-key limits and retention (issue 11)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 14:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A key's own limits; NULL: the settings' default.
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rate_limit", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("max_active_jobs", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("daily_job_quota", sa.Integer(), nullable=True))

    # The rate limiter's fixed-window counters where no Redis keeps them (app.limits).
    op.create_table(
        "rate_counters",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("rate_counters")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("daily_job_quota")
        batch_op.drop_column("max_active_jobs")
        batch_op.drop_column("rate_limit")
