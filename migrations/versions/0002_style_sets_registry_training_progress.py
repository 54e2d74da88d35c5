"""style sets, registry, training progress

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 07:04:26.900868
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "image_sets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["api_keys.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("image_sets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_image_sets_kind"), ["kind"], unique=False)

    op.create_table(
        "model_activations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("model_id", sa.String(length=36), nullable=True),
        sa.Column("previous_model_id", sa.String(length=36), nullable=True),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["api_keys.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "image_set_members",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("set_id", sa.String(length=36), nullable=False),
        sa.Column("image_sha256", sa.String(length=64), nullable=False),
        sa.Column("thumb_sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("phash", sa.String(length=16), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_sha256"],
            ["images.sha256"],
        ),
        sa.ForeignKeyConstraint(
            ["set_id"],
            ["image_sets.id"],
        ),
        sa.ForeignKeyConstraint(
            ["thumb_sha256"],
            ["images.sha256"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("set_id", "image_sha256", name="uq_set_member_image"),
    )
    with op.batch_alter_table("image_set_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_image_set_members_set_id"), ["set_id"], unique=False)

    op.create_table(
        "style_set_stats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("set_id", sa.String(length=36), nullable=False),
        sa.Column("model_key", sa.String(length=64), nullable=False),
        sa.Column("set_digest", sa.String(length=64), nullable=False),
        sa.Column("stats_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["set_id"],
            ["image_sets.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("set_id", "model_key", "set_digest", name="uq_style_set_stats"),
    )
    with op.batch_alter_table("style_set_stats", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_style_set_stats_set_id"), ["set_id"], unique=False)

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("style_set_id", sa.String(length=36), nullable=True))
        batch_op.add_column(
            sa.Column("progress_info", sa.JSON(), nullable=False, server_default="{}")
        )

    with op.batch_alter_table("model_files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("training_job_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("base_model_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("lineage", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("evaluation", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("gate", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("sheet_sha256", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint("uq_model_files_training_job", ["training_job_id"])


def downgrade() -> None:
    with op.batch_alter_table("model_files", schema=None) as batch_op:
        batch_op.drop_constraint("uq_model_files_training_job", type_="unique")
        batch_op.drop_column("sheet_sha256")
        batch_op.drop_column("gate")
        batch_op.drop_column("evaluation")
        batch_op.drop_column("lineage")
        batch_op.drop_column("base_model_id")
        batch_op.drop_column("training_job_id")

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("progress_info")
        batch_op.drop_column("style_set_id")

    with op.batch_alter_table("style_set_stats", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_style_set_stats_set_id"))

    op.drop_table("style_set_stats")
    with op.batch_alter_table("image_set_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_image_set_members_set_id"))

    op.drop_table("image_set_members")
    op.drop_table("model_activations")
    with op.batch_alter_table("image_sets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_image_sets_kind"))

    op.drop_table("image_sets")
