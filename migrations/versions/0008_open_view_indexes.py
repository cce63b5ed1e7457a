"""partial indexes for the open ticket views and the SLA timer loop

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
    "ix_ticket_open_unassigned_id": (["id"], f"assignee_id IS NULL AND {OPEN}"),
}
#: The SLA views concern few tickets: index only those (the plain indexes were mostly NULLs).
SLA_INDEXES = {
    "ix_ticket_open_due_id": (["sla_next_due_at", "id"], f"sla_next_due_at IS NOT NULL AND sla_breached_at IS NULL AND {OPEN}"),
    "ix_ticket_open_breached_id": (["sla_breached_at", "id"], f"sla_breached_at IS NOT NULL AND {OPEN}"),
}
PLAIN = {"ix_ticket_sla_next_due_at": "sla_next_due_at", "ix_ticket_sla_breached_at": "sla_breached_at"}
#: The SLA timer loop asks several times a second for the earliest clock still to handle.
RUNNING = "segment_started_at IS NOT NULL AND fulfilled_at IS NULL"
CLOCK_INDEXES = {
    "ix_sla_clock_pending_due": ("due_at", f"{RUNNING} AND breached_at IS NULL", "ix_sla_clock_due",
                                 ["breached_at", "due_at"]),
    "ix_sla_clock_pending_warn": ("warn_at", f"{RUNNING} AND warned_at IS NULL", "ix_sla_clock_warn",
                                  ["warned_at", "warn_at"]),
}


def upgrade():
    for name, (columns, where) in INDEXES.items():
        op.create_index(name, "ticket", columns, postgresql_where=sa.text(where), sqlite_where=sa.text(where),
                        postgresql_include=["team_id", "merged_into_id"])
    for name, (columns, where) in SLA_INDEXES.items():
        op.create_index(name, "ticket", columns, postgresql_where=sa.text(where), sqlite_where=sa.text(where))
    for name in PLAIN:
        op.drop_index(name, table_name="ticket")
    for name, (column, where, old, _) in CLOCK_INDEXES.items():
        op.drop_index(old, table_name="sla_clock")
        op.create_index(name, "sla_clock", [column], postgresql_where=sa.text(where), sqlite_where=sa.text(where))


def downgrade():
    for name, (_, _, old, columns) in CLOCK_INDEXES.items():
        op.drop_index(name, table_name="sla_clock")
        op.create_index(old, "sla_clock", columns)
    for name, column in PLAIN.items():
        op.create_index(name, "ticket", [column])
    for name in [*INDEXES, *SLA_INDEXES]:
        op.drop_index(name, table_name="ticket")
