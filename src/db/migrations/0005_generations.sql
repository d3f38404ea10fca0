-- 0005: generation counters for in-process caches (docs/performance.md, "Cost per request").
--
-- A generation is a number that every committed change to what a cache was computed from
-- increases, kept by triggers in the same transaction as the change, so it is exact whichever
-- process or code path wrote (the API, the web UI, the CLI, a test's SQL) and a rolled-back write
-- leaves it unchanged. A cache keyed by a generation is reused only while a read of the same
-- counter returns the same value. Expand-only: an older binary on this schema works unchanged, and
-- the triggers keep counting for it.
--
-- 'analysis' — what the local job analysis (db::analytics::analyze, run on every
-- POST /work-orders) reads: completed work orders (history, 90-day performance facts), booked
-- ones (next 7 days' load), work orders' technicians (follow-up facts), employees and follow-ups.
-- A new draft, or an edit of a draft that keeps it a draft with the same technician, changes none
-- of that, so creating work orders keeps the cache.
CREATE TABLE generations (
    name TEXT PRIMARY KEY,
    n    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO generations (name, n) VALUES ('analysis', 1);

CREATE TRIGGER generations_analysis_wo_insert AFTER INSERT ON work_orders
    WHEN NEW.status <> 'draft' OR NEW.assigned_employee_id IS NOT NULL
BEGIN
    UPDATE generations SET n = n + 1 WHERE name = 'analysis';
END;

CREATE TRIGGER generations_analysis_wo_update AFTER UPDATE ON work_orders
    WHEN OLD.status <> 'draft' OR NEW.status <> 'draft'
      OR OLD.assigned_employee_id IS NOT NEW.assigned_employee_id
BEGIN
    UPDATE generations SET n = n + 1 WHERE name = 'analysis';
END;

CREATE TRIGGER generations_analysis_wo_delete AFTER DELETE ON work_orders
BEGIN
    UPDATE generations SET n = n + 1 WHERE name = 'analysis';
END;

CREATE TRIGGER generations_analysis_employees_insert AFTER INSERT ON employees
BEGIN
    UPDATE generations SET n = n + 1 WHERE name = 'analysis';
END;

CREATE TRIGGER generations_analysis_employees_update AFTER UPDATE ON employees
BEGIN
    UPDATE generations SET n = n + 1 WHERE name = 'analysis';
END;

CREATE TRIGGER generations_analysis_employees_delete AFTER DELETE ON employees
BEGIN
    UPDATE generations SET n = n + 1 WHERE name = 'analysis';
END;

CREATE TRIGGER generations_analysis_follow_ups_insert AFTER INSERT ON follow_ups
BEGIN
    UPDATE generations SET n = n + 1 WHERE name = 'analysis';
END;

CREATE TRIGGER generations_analysis_follow_ups_update AFTER UPDATE ON follow_ups
BEGIN
    UPDATE generations SET n = n + 1 WHERE name = 'analysis';
END;

CREATE TRIGGER generations_analysis_follow_ups_delete AFTER DELETE ON follow_ups
BEGIN
    UPDATE generations SET n = n + 1 WHERE name = 'analysis';
END;
