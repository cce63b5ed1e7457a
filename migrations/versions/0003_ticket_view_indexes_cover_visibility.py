"""ticket view indexes cover the visibility filters

The console counts every view up to COUNT_CAP on each list page. Each count
filters on ``merged_into_id IS NULL`` and, for agents outside a restricted
team, on ``team_id``; with neither column in the view indexes every counted
row cost a heap fetch (about 44 ms for the twelve views at 1M tickets).
Carrying both columns in the indexes lets PostgreSQL answer the counts with
index-only scans (about 3 ms). SQLite has no INCLUDE, so it is left alone.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 05:40:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: The indexes that serve a console view, by name, with their key columns.
VIEW_INDEXES = {
    "ix_ticket_status_id": ["status", "id"],
    "ix_ticket_assignee_status_id": ["assignee_id", "status", "id"],
    "ix_ticket_channel_status_id": ["channel", "status", "id"],
}
COVERED = ["team_id", "merged_into_id"]


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, columns in VIEW_INDEXES.items():
        op.drop_index(name, table_name="ticket")
        op.create_index(name, "ticket", columns, postgresql_include=COVERED)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, columns in VIEW_INDEXES.items():
        op.drop_index(name, table_name="ticket")
        op.create_index(name, "ticket", columns)
