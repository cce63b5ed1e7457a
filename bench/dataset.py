"""Bulk-load a realistic help desk of N tickets into PostgreSQL, server-side, in one transaction.

Everything is ``INSERT ... SELECT generate_series`` so no row crosses the
wire: a million tickets with their customers, messages and search rows load
in a few minutes. Secondary indexes are dropped first and rebuilt after the
load (one sort per index instead of a million random inserts), and foreign
key triggers are skipped (``session_replication_role = replica``) because the
rows are consistent by construction.

The shape, per 100,000 tickets: 5,000 customers with one email identity
each, 20 agents in 3 teams (one restricted), about 8% of tickets
new/open/pending (most recent tickets are open, a stale backlog is spread
over the older ones), the rest solved or closed, created over two years in id
order, one customer message per ticket, a search row per ticket subject and
per customer.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import Engine, text

from helpdesk.extensions import db

log = logging.getLogger("bench")

#: Bumped whenever the generated data changes, so old data sets get reloaded.
VERSION = 1
TICKETS_PER_CUSTOMER = 20
AGENTS = 20
DAYS = 730

_SUBJECTS = [
    "Cannot log in to my account", "Invoice shows the wrong amount", "Refund for order", "Password reset link expired",
    "Printer on fire", "App crashes on start", "Change my billing address", "Where is my parcel?",
    "Two-factor code never arrives", "Export to CSV is empty", "Upgrade to the annual plan", "Cancel my subscription",
    "Damaged item received", "Sync stopped working", "Request a copy of my data", "Wrong size delivered",
    "Payment declined", "Add a colleague to our account", "Slow dashboard", "Question about the API limits",
    "Email notifications missing", "Suspicious sign-in alert", "Discount code does not apply", "Phone number change",
]
_FIRST = ["Ada", "Bob", "Chloé", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemal", "Lena",
          "Mona", "Nils", "Olga", "Pedro", "Quinn", "Rosa", "Sami", "Tariq", "Uma", "Vera", "Wen", "Yara", "Zoe"]
_LAST = ["Martin", "Schmidt", "Rossi", "Nguyen", "García", "Kowalski", "Dubois", "Okafor", "Larsen", "Silva",
         "Tanaka", "Novak", "Brown", "Haddad", "Ivanova", "Moreau", "Fischer", "Costa", "Jensen", "Murphy"]
_DOMAINS = ["example.com", "example.org", "mail.example.net", "acme.example", "globex.example", "initech.example"]
_TAGS = ["billing", "bug", "feature-request", "refund", "shipping", "security", "onboarding", "vip"]


def _array(words: list[str]) -> str:
    return "ARRAY[" + ", ".join("'" + w.replace("'", "''") + "'" for w in words) + "]"


_TEAMS = """
INSERT INTO team (id, name, description, channels, restricted, lead_id) VALUES
  (1, 'Support', 'First line', 'email,web,chat,phone,api', false, NULL),
  (2, 'Billing', 'Invoices and refunds', 'email,web', false, NULL),
  (3, 'Security', 'Account takeovers and abuse reports', 'email', true, NULL)
"""

# Agents 1-8 work in Support, 9-16 in Billing, 17-20 in Security.
_AGENTS = f"""
INSERT INTO agent (id, email, name, password_hash, role, presence, max_chats, active, session_version, created_at)
SELECT g, 'agent' || g || '@helpdesk.test', ({_array(_FIRST)})[1 + g % 25] || ' Agent', '!',
       CASE WHEN g = 20 THEN 'admin' ELSE 'agent' END, 'offline', 3, true, 1, now() - interval '{DAYS + 30} days'
FROM generate_series(1, {AGENTS}) g;
INSERT INTO team_member (team_id, agent_id)
SELECT CASE WHEN g <= 8 THEN 1 WHEN g <= 16 THEN 2 ELSE 3 END, g FROM generate_series(1, {AGENTS}) g;
"""

_CUSTOMERS = f"""
INSERT INTO customer (id, name, vip, language, notes, created_at)
SELECT g, ({_array(_FIRST)})[1 + g % 25] || ' ' || ({_array(_LAST)})[1 + (g / 25) % 20], g % 50 = 0,
       CASE WHEN g % 7 = 0 THEN 'fr' ELSE 'en' END, '',
       now() - interval '{DAYS + 30} days' + (g::float8 / :customers) * interval '{DAYS} days'
FROM generate_series(1, :customers) g;
INSERT INTO customer_identity (id, customer_id, kind, value, undeliverable, created_at)
SELECT id, id, 'email',
       lower(translate(replace(name, ' ', '.'), 'éíá', 'eia')) || '.' || id || '@' || ({_array(_DOMAINS)})[1 + id % 6],
       false, created_at
FROM customer;
"""

# r1 status, r2 status detail and timing, r3 unassigned, r4 which agent, r5 team, r6 channel,
# r7 priority, r8 customer, r9 subject. The last 30 days are mostly open; older tickets keep
# a 5.5% backlog so open tickets are spread through the whole table.
_TICKETS = f"""
INSERT INTO ticket (id, subject, status, priority, channel, customer_id, assignee_id, team_id,
                    created_at, updated_at, last_customer_message_at, first_response_due_at, first_responded_at,
                    resolution_due_at, solved_at, closed_at, ack_sent_at, sla_breaches)
SELECT g, subject, status, priority, channel, customer_id,
       CASE WHEN status = 'new' OR (status <> 'solved' AND status <> 'closed' AND r3 < 0.15) THEN NULL
            WHEN team_id = 1 THEN 1 + floor(r4 * 8)::int
            WHEN team_id = 2 THEN 9 + floor(r4 * 8)::int
            ELSE 17 + floor(r4 * 4)::int END,
       team_id, created_at, least(now(), created_at + touched), created_at, created_at + interval '8 hours',
       CASE WHEN status <> 'new' THEN created_at + touched / 4 END, created_at + interval '5 days',
       CASE WHEN status IN ('solved', 'closed') THEN created_at + touched END,
       CASE WHEN status = 'closed' THEN created_at + touched + interval '4 days' END,
       created_at + interval '1 minute', '[]'
FROM (
  SELECT g, r3, r4,
         CASE WHEN r1 < p_open THEN (ARRAY['new', 'open', 'open', 'pending'])[1 + floor(r2 * 4)::int]
              WHEN recent OR r2 < 0.15 THEN 'solved' ELSE 'closed' END AS status,
         CASE WHEN r5 < 0.6 THEN 1 WHEN r5 < 0.92 THEN 2 ELSE 3 END AS team_id,
         CASE WHEN r6 < 0.55 THEN 'email' WHEN r6 < 0.75 THEN 'web' WHEN r6 < 0.90 THEN 'chat'
              WHEN r6 < 0.98 THEN 'phone' ELSE 'api' END AS channel,
         CASE WHEN r7 < 0.15 THEN 0 WHEN r7 < 0.80 THEN 1 WHEN r7 < 0.95 THEN 2 ELSE 3 END AS priority,
         1 + least(:customers - 1, floor(power(r8, 1.5) * :customers)::int) AS customer_id,
         ({_array(_SUBJECTS)})[1 + floor(r9 * {len(_SUBJECTS)})::int] AS subject,
         now() - interval '{DAYS} days' + (g::float8 / :tickets) * interval '{DAYS} days' AS created_at,
         make_interval(secs => r2 * 259200) AS touched
  FROM (
    SELECT g, random() r1, random() r2, random() r3, random() r4, random() r5, random() r6, random() r7,
           random() r8, random() r9, g > :tickets * {1 - 30 / DAYS} AS recent,
           CASE WHEN g > :tickets * {1 - 30 / DAYS} THEN 0.6 ELSE 0.055 END AS p_open
    FROM generate_series(1, :tickets) g
  ) drawn
) shaped
"""

_REST = f"""
INSERT INTO message (id, ticket_id, author_type, author_customer_id, channel, internal, body_text, created_at, meta)
SELECT id, id, 'customer', customer_id, channel, false,
       'Hello, ' || lower(subject) || '. I tried again this morning and it still happens. '
       || 'Could you have a look? Order ' || (100000 + id * 7 % 900000) || '. Thanks!',
       created_at, '{{}}'
FROM ticket;
INSERT INTO tag (id, name) SELECT i, ({_array(_TAGS)})[i] FROM generate_series(1, {len(_TAGS)}) i;
INSERT INTO ticket_tag (ticket_id, tag_id) SELECT id, 1 + id * 7 % {len(_TAGS)} FROM ticket WHERE id % 10 < 3;
INSERT INTO search_index (key, body, ticket_id, customer_id)
SELECT id * 4, 'HD-' || (id + 1000) || ' ' || subject, id, NULL FROM ticket
UNION ALL
SELECT c.id * 4 + 2, c.name || ' ' || i.value || ' ' || replace(i.value, '@', ' '), NULL, c.id
FROM customer c JOIN customer_identity i ON i.customer_id = c.id;
"""

_SECONDARY_INDEXES = """
SELECT i.indexname, i.indexdef FROM pg_indexes i
WHERE i.schemaname = current_schema()
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                  WHERE c.conindid = format('%I.%I', i.schemaname, i.indexname)::regclass)
"""


def _marker(n: int) -> str:
    return f"helpdesk bench data v{VERSION}: {n} tickets"


def is_loaded(engine: Engine, n: int) -> bool:
    """Say whether the current schema already holds this version's data set of ``n`` tickets."""
    with engine.connect() as conn:
        comment = conn.scalar(text("SELECT obj_description(to_regnamespace(current_schema()), 'pg_namespace')"))
        return comment == _marker(n) and conn.scalar(text("SELECT count(*) FROM ticket")) == n


def load(engine: Engine, n: int) -> float:
    """Replace every row of the current schema with a data set of ``n`` tickets; return the seconds taken."""
    started = time.monotonic()
    tables = [t.name for t in reversed(db.metadata.sorted_tables)] + ["search_index"]
    params = {"tickets": n, "customers": max(1, n // TICKETS_PER_CUSTOMER)}
    with engine.connect() as conn:
        conn.exec_driver_sql("SET session_replication_role = replica")  # no FK triggers: rows are consistent
        conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
        conn.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        indexes = conn.execute(text(_SECONDARY_INDEXES)).all()
        for name, _ in indexes:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
        for step, sql in [("teams and agents", _TEAMS + ";" + _AGENTS), ("customers", _CUSTOMERS),
                          ("tickets", _TICKETS), ("messages, tags, search rows", _REST)]:
            t0 = time.monotonic()
            for statement in filter(str.strip, sql.split(";\n")):
                conn.execute(text(statement), params)
            log.info("  %s: %.1fs", step, time.monotonic() - t0)
        t0 = time.monotonic()
        for _, definition in indexes:
            conn.exec_driver_sql(definition)
        log.info("  %d secondary indexes rebuilt: %.1fs", len(indexes), time.monotonic() - t0)
        for table in ("agent", "team", "customer", "customer_identity", "ticket", "message", "tag"):
            conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )
        conn.exec_driver_sql(f"COMMENT ON SCHEMA \"{conn.scalar(text('SELECT current_schema()'))}\" IS '{_marker(n)}'")
        conn.commit()
    t0 = time.monotonic()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    log.info("  VACUUM ANALYZE: %.1fs", time.monotonic() - t0)
    return time.monotonic() - started
