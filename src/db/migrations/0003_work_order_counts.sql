-- 0003: the number of work orders in each status, kept exact by triggers in the same
-- transaction as every insert, status change and delete. The work-order list returns its total
-- with every page; for the common status-only filters (and no filter) the total is read here
-- instead of counting index entries (tens of thousands per request at 100k work orders).
-- Expand-only: an older binary on this schema still works and the triggers keep it in step.

CREATE TABLE work_order_counts (
    status TEXT PRIMARY KEY,
    n      INTEGER NOT NULL CHECK (n >= 0)
) STRICT, WITHOUT ROWID;

INSERT INTO work_order_counts (status, n)
    SELECT status, count(*) FROM work_orders GROUP BY status;

CREATE TRIGGER work_order_counts_insert AFTER INSERT ON work_orders
BEGIN
    INSERT INTO work_order_counts (status, n) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER work_order_counts_update AFTER UPDATE OF status ON work_orders
    WHEN OLD.status IS NOT NEW.status
BEGIN
    UPDATE work_order_counts SET n = n - 1 WHERE status = OLD.status;
    INSERT INTO work_order_counts (status, n) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER work_order_counts_delete AFTER DELETE ON work_orders
BEGIN
    UPDATE work_order_counts SET n = n - 1 WHERE status = OLD.status;
END;
