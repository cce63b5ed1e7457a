"""partial indexes for the open ticket views

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 06:05:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OPEN = "status IN ('new', 'open', 'pending')"
INDEXES = {
    "ix_ticket_open_id": (["id"], OPEN),
    "ix_ticket_open_assignee_id": (["assignee_id", "id"], OPEN),
    "ix_ticket_open_channel_id": (["channel", "id"], OPEN),
    "ix_ticket_open_due_id": (["sla_next_due_at", "id"], OPEN),
    "ix_ticket_open_unassigned_id": (["id"], f"assignee_id IS NULL AND {OPEN}"),
}


def upgrade():
    for name, (columns, where) in INDEXES.items():
        op.create_index(name, "ticket", columns, postgresql_where=sa.text(where), sqlite_where=sa.text(where),
                        postgresql_include=["team_id", "merged_into_id"])


def downgrade():
    for name in INDEXES:
        op.drop_index(name, table_name="ticket")
