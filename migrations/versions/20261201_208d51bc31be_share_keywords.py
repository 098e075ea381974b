"""Share keywords: whether a user's preference keywords show on their public pictures.

Revision ID: 208d51bc31be
Revises: 8f55cce7bb62
Create Date: 2026-12-01 23:33:02.032695+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "208d51bc31be"
down_revision: str | Sequence[str] | None = "8f55cce7bb62"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema: every existing user starts with sharing off."""
    with op.batch_alter_table("user_settings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("share_keywords", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("user_settings", schema=None) as batch_op:
        batch_op.drop_column("share_keywords")
