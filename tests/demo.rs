//! `quant demo`: the seeded business has what the issue promises, its numbers
//! are consistent, and the binary prints a URL and logins that work.

mod common;

use common::*;
use std::time::Duration;

fn count(c: &rusqlite::Connection, sql: &str) -> i64 {
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_business_is_complete_and_consistent() {
    let app = TestApp::start().await;
    let mut config = test_config(app.dir.path());
    quant::demo::apply_business(&mut config);
    let clock: quant::clock::SharedClock = app.clock.clone();
    let s = quant::demo::seed_if_empty(&app.state.db, &clock, &config)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.customers, 2000);
    assert_eq!(s.logins.len(), 12);
    assert!(s.work_orders > 2500, "{s:?}");
    assert!((3..=40).contains(&s.overdue_follow_ups), "{s:?}");
    // Seeding twice does nothing.
    assert!(
        quant::demo::seed_if_empty(&app.state.db, &clock, &config)
            .await
            .unwrap()
            .is_none()
    );

    let db = app.state.db.clone();
    let checks = db
        .read(|c| {
            let n = |sql: &str| count(c, sql);
            Ok(vec![
                ("office users", n("SELECT count(*) FROM users WHERE role = 'office'"), 3, 3),
                ("technicians", n("SELECT count(*) FROM employees WHERE user_id IS NOT NULL AND json_array_length(skills) >= 2"), 8, 8),
                ("equipment", n("SELECT count(*) FROM equipment"), 40, 40),
                ("loadouts", n("SELECT count(*) FROM loadouts"), 4, 4),
                ("months of history", n("SELECT count(DISTINCT substr(scheduled_date, 1, 7)) FROM work_orders WHERE status = 'completed'"), 18, 20),
                ("leads", n("SELECT count(*) FROM leads"), 3, 50),
                ("invoice lines add up", n("SELECT count(*) FROM invoices i WHERE subtotal_cents <> (SELECT sum(amount_cents) FROM invoice_lines l WHERE l.invoice_id = i.id)"), 0, 0),
                ("totals = subtotal + tax", n("SELECT count(*) FROM invoices WHERE total_cents <> subtotal_cents + tax_cents"), 0, 0),
                ("paid invoices fully paid", n("SELECT count(*) FROM invoices i WHERE status = 'paid' AND paid_cents <> (SELECT sum(amount_cents) FROM payments p WHERE p.invoice_id = i.id)"), 0, 0),
                ("unpaid sent invoices", n("SELECT count(*) FROM invoices WHERE status = 'sent'"), 1, 1000),
                ("FTS rows", n("SELECT count(*) FROM customers_fts"), 2000, 2000),
                ("active work orders", n("SELECT count(*) FROM work_orders WHERE status IN ('scheduled', 'in_progress')"), 1, 500),
                ("drafts", n("SELECT count(*) FROM work_orders WHERE status = 'draft'"), 1, 50),
                ("numbers gap-free", n("SELECT max(number) - count(*) FROM work_orders"), 0, 0),
                ("counter matches", n("SELECT (SELECT value FROM counters WHERE name = 'work_order') - max(number) FROM work_orders"), 0, 0),
                // No technician is double-booked on open work.
                ("double bookings", n("SELECT count(*) FROM work_orders a JOIN work_orders b ON a.assigned_employee_id = b.assigned_employee_id AND a.id < b.id
                    AND a.status IN ('scheduled','in_progress') AND b.status IN ('scheduled','in_progress')
                    AND a.window_start < b.window_end AND b.window_start < a.window_end"), 0, 0),
                // Seasonality: more furnace repairs in Dec–Feb than in Jun–Aug.
                ("furnace winter minus summer", n("SELECT sum(CASE WHEN substr(scheduled_date,6,2) IN ('12','01','02') THEN 1 ELSE 0 END)
                    - sum(CASE WHEN substr(scheduled_date,6,2) IN ('06','07','08') THEN 1 ELSE 0 END) FROM work_orders WHERE service_type = 'Furnace repair'"), 100, 100_000),
            ])
        })
        .await
        .unwrap();
    for (what, got, lo, hi) in checks {
        assert!((lo..=hi).contains(&got), "{what}: {got} not in {lo}..={hi}");
    }
    app.stop().await;
}

#[test]
fn quant_demo_prints_a_url_and_logins_that_work() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = quant_cmd();
    cmd.args([
        "--data",
        dir.path().to_str().unwrap(),
        "demo",
        "--listen",
        "127.0.0.1:0",
    ]);
    let s = serve(cmd);
    assert!(
        s.wait_line(Duration::from_secs(5), |l| l
            .contains("owner@northside.example"))
            .is_some()
    );
    assert!(
        s.wait_line(Duration::from_secs(5), |l| l
            .contains("is running at http://"))
            .is_some()
    );
    assert!(
        s.wait_line(Duration::from_secs(1), |l| l.contains("/setup?token="))
            .is_none(),
        "no setup link in the demo"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = cookie_client();
        let r = c
            .post(format!("{}/api/v1/auth/login", s.base()))
            .json(&serde_json::json!({"email": "paula@northside.example", "password": quant::demo::DEMO_PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = c
            .get(format!("{}/api/v1/customers?q=springfield&limit=1", s.base()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(v["pagination"]["total"].as_i64().unwrap() > 100, "{v}");
    });
}
