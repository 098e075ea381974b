"""Delivery outbox: when (and how) a finished generation reached its user.

Revision ID: 5d2e8b7c4a19
Revises: 208d51bc31be
Create Date: 2026-12-03 17:10:00.000000+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "5d2e8b7c4a19"
down_revision: str | Sequence[str] | None = "208d51bc31be"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema: jobs that ended before the outbox count as delivered.

    Without this, the bot's first start after the upgrade would post every old picture again.
    """
    with op.batch_alter_table("generations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("delivery_note", sa.String(length=200), nullable=True))
        batch_op.create_index(
            "ix_generations_delivered_at_status", ["delivered_at", "status"], unique=False
        )
    generations = sa.table(
        "generations",
        sa.column("status", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("finished_at", sa.DateTime(timezone=True)),
        sa.column("delivered_at", sa.DateTime(timezone=True)),
        sa.column("delivery_note", sa.String()),
    )
    op.execute(
        generations.update()
        .where(generations.c.status.in_(["done", "failed", "cancelled"]))
        .values(
            delivered_at=sa.func.coalesce(generations.c.finished_at, generations.c.created_at),
            delivery_note="ended before the delivery outbox",
        )
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("generations", schema=None) as batch_op:
        batch_op.drop_index("ix_generations_delivered_at_status")
        batch_op.drop_column("delivery_note")
        batch_op.drop_column("delivered_at")
