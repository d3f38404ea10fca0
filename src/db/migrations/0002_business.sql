-- 0002: the field-service business: customers, contacts, employees, equipment, loadouts,
-- work orders, invoices, payments, follow-ups, leads, attachments, audit log.
-- Money is integer cents (*_cents); durations are whole minutes (*_minutes); rates are
-- basis points (*_bps). Timestamps are RFC 3339 UTC text; calendar dates are YYYY-MM-DD and
-- clock times HH:MM in the business's time zone.

-- Gap-free human numbers (WO-000123, INV-000045): bumped in the same transaction as the
-- insert that uses them, so a rolled-back insert gives its number back.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;

CREATE TABLE customers (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    company      TEXT NOT NULL DEFAULT '',
    email        TEXT NOT NULL DEFAULT '',
    phone        TEXT NOT NULL DEFAULT '',
    phone_digits TEXT NOT NULL DEFAULT '',   -- phone with only its digits, for matching
    notes        TEXT NOT NULL DEFAULT '',
    tags         TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
    addresses    TEXT NOT NULL DEFAULT '[]', -- JSON array of {label,line1,line2,city,region,postalCode}
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
) STRICT;
CREATE INDEX customers_email ON customers (email COLLATE NOCASE) WHERE email <> '';
CREATE INDEX customers_phone ON customers (phone_digits) WHERE phone_digits <> '';
CREATE INDEX customers_name ON customers (name COLLATE NOCASE, id);
CREATE INDEX customers_created ON customers (created_at, id);

-- Full-text search over customers; rows are replaced by the same transaction that writes
-- the customer (db::customers::reindex).
CREATE VIRTUAL TABLE customers_fts USING fts5 (
    customer_id UNINDEXED,
    name, company, email, phone, address, notes,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);

CREATE TABLE contacts (
    id          TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL DEFAULT '',
    email       TEXT NOT NULL DEFAULT '',
    phone       TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;
CREATE INDEX contacts_customer ON contacts (customer_id, created_at);

CREATE TABLE employees (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    email             TEXT NOT NULL DEFAULT '',
    user_id           TEXT UNIQUE REFERENCES users (id) ON DELETE SET NULL,
    trade             TEXT NOT NULL DEFAULT '',
    skills            TEXT NOT NULL DEFAULT '[]', -- JSON array of strings (skills and certifications)
    hourly_rate_cents INTEGER NOT NULL DEFAULT 0 CHECK (hourly_rate_cents >= 0), -- cost to the business
    active            INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
) STRICT;
CREATE INDEX employees_name ON employees (name COLLATE NOCASE, id);

CREATE TABLE equipment (
    id                    TEXT PRIMARY KEY,
    name                  TEXT NOT NULL,
    type                  TEXT NOT NULL DEFAULT '',
    hourly_cost_cents     INTEGER NOT NULL DEFAULT 0 CHECK (hourly_cost_cents >= 0),
    status                TEXT NOT NULL DEFAULT 'available'
                          CHECK (status IN ('available', 'in_use', 'maintenance', 'retired')),
    next_maintenance_date TEXT,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
) STRICT;
CREATE INDEX equipment_name ON equipment (name COLLATE NOCASE, id);

CREATE TABLE loadouts (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE COLLATE NOCASE,
    description TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;

CREATE TABLE loadout_items (
    loadout_id   TEXT NOT NULL REFERENCES loadouts (id) ON DELETE CASCADE,
    equipment_id TEXT NOT NULL REFERENCES equipment (id) ON DELETE RESTRICT,
    PRIMARY KEY (loadout_id, equipment_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX loadout_items_equipment ON loadout_items (equipment_id);

CREATE TABLE work_orders (
    id                   TEXT PRIMARY KEY,
    number               INTEGER NOT NULL UNIQUE,           -- shown as WO-000123
    customer_id          TEXT NOT NULL REFERENCES customers (id),
    service_type         TEXT NOT NULL,
    status               TEXT NOT NULL
                         CHECK (status IN ('draft', 'scheduled', 'in_progress', 'completed', 'cancelled')),
    priority             TEXT NOT NULL DEFAULT 'medium'
                         CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
    scheduled_date       TEXT,                              -- YYYY-MM-DD, business time zone
    scheduled_time       TEXT,                              -- HH:MM
    -- The booked window as minutes since 1970-01-01T00:00 business-local wall time, for
    -- overlap checks; NULL while unscheduled.
    window_start         INTEGER,
    window_end           INTEGER,
    estimated_minutes    INTEGER CHECK (estimated_minutes >= 0),
    actual_minutes       INTEGER CHECK (actual_minutes >= 0),
    assigned_employee_id TEXT REFERENCES employees (id),
    loadout_id           TEXT REFERENCES loadouts (id),
    job_description      TEXT NOT NULL DEFAULT '',
    special_instructions TEXT NOT NULL DEFAULT '',
    estimated_cost_cents INTEGER,
    actual_cost_cents    INTEGER,
    quoted_price_cents   INTEGER,
    final_price_cents    INTEGER,
    customer_notes       TEXT NOT NULL DEFAULT '',
    completion_notes     TEXT NOT NULL DEFAULT '',
    signature_id         TEXT,                              -- attachments.id of kind 'signature'
    lead_id              TEXT,
    started_at           TEXT,
    completed_at         TEXT,
    cancelled_at         TEXT,
    cancel_reason        TEXT,
    created_by           TEXT,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
) STRICT;
CREATE INDEX work_orders_status ON work_orders (status, created_at, id);
CREATE INDEX work_orders_created ON work_orders (created_at, id);
CREATE INDEX work_orders_customer ON work_orders (customer_id, created_at);
CREATE INDEX work_orders_employee ON work_orders (assigned_employee_id, window_start);
CREATE INDEX work_orders_scheduled ON work_orders (scheduled_date, scheduled_time);
CREATE INDEX work_orders_loadout ON work_orders (loadout_id, window_start) WHERE loadout_id IS NOT NULL;
CREATE INDEX work_orders_completed ON work_orders (completed_at) WHERE completed_at IS NOT NULL;
CREATE INDEX work_orders_service ON work_orders (service_type, priority, status);
-- The job analysis reads the most recent completed jobs of a service type (case-insensitive)
-- from this index alone (db::analytics::analyze).
CREATE INDEX work_orders_done_service ON work_orders (service_type COLLATE NOCASE, completed_at,
    priority, actual_minutes, actual_cost_cents, assigned_employee_id) WHERE status = 'completed';

CREATE TABLE invoices (
    id            TEXT PRIMARY KEY,
    number        INTEGER NOT NULL UNIQUE,                  -- shown as INV-000045
    work_order_id TEXT UNIQUE REFERENCES work_orders (id),
    customer_id   TEXT NOT NULL REFERENCES customers (id),
    status        TEXT NOT NULL CHECK (status IN ('draft', 'sent', 'paid', 'void')),
    subtotal_cents INTEGER NOT NULL,
    tax_rate_bps  INTEGER NOT NULL CHECK (tax_rate_bps BETWEEN 0 AND 10000),
    tax_cents     INTEGER NOT NULL,
    total_cents   INTEGER NOT NULL,
    paid_cents    INTEGER NOT NULL DEFAULT 0,
    issued_date   TEXT NOT NULL,
    due_date      TEXT NOT NULL,
    sent_at       TEXT,
    paid_at       TEXT,
    voided_at     TEXT,
    void_reason   TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;
CREATE INDEX invoices_status ON invoices (status, issued_date);
CREATE INDEX invoices_customer ON invoices (customer_id, issued_date);

CREATE TABLE invoice_lines (
    invoice_id       TEXT NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    position         INTEGER NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('labour', 'equipment', 'parts', 'other')),
    description      TEXT NOT NULL,
    quantity_milli   INTEGER NOT NULL,                      -- quantity in thousandths
    unit_price_cents INTEGER NOT NULL,
    amount_cents     INTEGER NOT NULL,
    PRIMARY KEY (invoice_id, position)
) STRICT, WITHOUT ROWID;

CREATE TABLE payments (
    id            TEXT PRIMARY KEY,
    invoice_id    TEXT NOT NULL REFERENCES invoices (id),
    amount_cents  INTEGER NOT NULL CHECK (amount_cents > 0),
    method        TEXT NOT NULL CHECK (method IN ('cash', 'check', 'card', 'bank_transfer', 'other')),
    reference     TEXT NOT NULL DEFAULT '',
    received_date TEXT NOT NULL,
    created_by    TEXT,
    created_at    TEXT NOT NULL
) STRICT;
CREATE INDEX payments_invoice ON payments (invoice_id, created_at);
CREATE INDEX payments_received ON payments (received_date);

CREATE TABLE follow_ups (
    id            TEXT PRIMARY KEY,
    work_order_id TEXT REFERENCES work_orders (id),
    customer_id   TEXT NOT NULL REFERENCES customers (id),
    due_date      TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('open', 'done', 'cancelled')),
    note          TEXT NOT NULL DEFAULT '',
    completed_at  TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;
CREATE INDEX follow_ups_due ON follow_ups (status, due_date);
CREATE INDEX follow_ups_customer ON follow_ups (customer_id);

CREATE TABLE leads (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    phone         TEXT NOT NULL DEFAULT '',
    email         TEXT NOT NULL DEFAULT '',
    service_type  TEXT NOT NULL DEFAULT '',
    description   TEXT NOT NULL DEFAULT '',
    urgency       TEXT NOT NULL DEFAULT 'medium' CHECK (urgency IN ('low', 'medium', 'high', 'urgent')),
    source        TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'contacted', 'converted', 'lost')),
    customer_id   TEXT REFERENCES customers (id),
    work_order_id TEXT REFERENCES work_orders (id),
    lost_reason   TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;
CREATE INDEX leads_status ON leads (status, created_at);

CREATE TABLE attachments (
    id            TEXT PRIMARY KEY,
    work_order_id TEXT NOT NULL REFERENCES work_orders (id),
    kind          TEXT NOT NULL CHECK (kind IN ('before', 'after', 'signature')),
    sha256        TEXT NOT NULL,                            -- content address of the original
    content_type  TEXT NOT NULL,
    size_bytes    INTEGER NOT NULL,
    width         INTEGER,
    height        INTEGER,
    thumb_sha256  TEXT,                                     -- content address of the thumbnail
    uploaded_by   TEXT,
    created_at    TEXT NOT NULL
) STRICT;
CREATE INDEX attachments_work_order ON attachments (work_order_id, kind, created_at);

CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY,
    at            TEXT NOT NULL,
    actor_user_id TEXT,
    actor         TEXT NOT NULL,                            -- e-mail, or 'system'
    entity        TEXT NOT NULL,                            -- e.g. 'work_order'
    entity_id     TEXT NOT NULL,
    action        TEXT NOT NULL,                            -- e.g. 'create', 'update', 'schedule'
    diff          TEXT NOT NULL DEFAULT '{}',               -- JSON {field: {"before": x, "after": y}}
    request_id    TEXT
) STRICT;
CREATE INDEX audit_entity ON audit_log (entity, entity_id, id);
CREATE INDEX audit_at ON audit_log (at, id);
CREATE INDEX audit_actor ON audit_log (actor_user_id, id);
