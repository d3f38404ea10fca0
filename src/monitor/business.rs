//! Business gauges exported on `/metrics` (DESIGN §6), refreshed from the
//! database when `/metrics` is scraped:
//!
//! * `quant_revenue_total` — Σ final price of every completed work order, in
//!   currency units (all time);
//! * `quant_work_orders_active` — work orders scheduled or in progress now;
//! * `quant_equipment_utilization_percentage{equipment}` — per piece of
//!   equipment in service, utilization over the last 30 days;
//! * `quant_employee_performance_score{employee}` — per active employee, the
//!   performance score over the last 90 days.
//!
//! Labels are the names; a name shared by two rows gets the last group of the
//! id appended (`Van (8c1e2f3a4b5d)`, the random part of a UUIDv7) so every
//! series is unique.
//! Series of deleted, retired or deactivated rows are removed.

use crate::db::DbError;
use crate::db::analytics as repo;
use crate::domain::analytics::{DEFAULT_RANGE_DAYS, DateRange, PERFORMANCE_RANGE_DAYS};
use chrono::NaiveDate;
use prometheus::{Gauge, GaugeVec, IntGauge, Opts, Registry};
use rusqlite::Connection;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// The four business gauges.
pub struct BusinessGauges {
    revenue_total: Gauge,
    work_orders_active: IntGauge,
    equipment_utilization: GaugeVec,
    employee_performance: GaugeVec,
    /// Label values set by the last refresh, per vector (to remove stale ones).
    seen: Mutex<(HashSet<String>, HashSet<String>)>,
}

impl std::fmt::Debug for BusinessGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BusinessGauges")
    }
}

/// Creates the business gauges and registers them in `registry`. Fails when a
/// metric of the same name is already registered.
pub fn register(registry: &Registry) -> Result<BusinessGauges, prometheus::Error> {
    let revenue_total = Gauge::new(
        "quant_revenue_total",
        "Sum of final prices of all completed work orders, in currency units.",
    )?;
    let work_orders_active = IntGauge::new(
        "quant_work_orders_active",
        "Work orders scheduled or in progress.",
    )?;
    let equipment_utilization = GaugeVec::new(
        Opts::new(
            "quant_equipment_utilization_percentage",
            "Booked time over available working time (8 h per weekday) in the last 30 days, percent.",
        ),
        &["equipment"],
    )?;
    let employee_performance = GaugeVec::new(
        Opts::new(
            "quant_employee_performance_score",
            "Employee performance score (0-100) over the last 90 days.",
        ),
        &["employee"],
    )?;
    registry.register(Box::new(revenue_total.clone()))?;
    registry.register(Box::new(work_orders_active.clone()))?;
    registry.register(Box::new(equipment_utilization.clone()))?;
    registry.register(Box::new(employee_performance.clone()))?;
    Ok(BusinessGauges {
        revenue_total,
        work_orders_active,
        equipment_utilization,
        employee_performance,
        seen: Mutex::new((HashSet::new(), HashSet::new())),
    })
}

/// Unique labels for `(id, name)` rows: the name, or `name (<last group of
/// the id>)` when two rows share it.
fn labels(rows: &[(String, String, f64)]) -> Vec<(String, f64)> {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for (_, name, _) in rows {
        *count.entry(name.as_str()).or_default() += 1;
    }
    rows.iter()
        .map(|(id, name, v)| {
            let label = if count.get(name.as_str()).copied().unwrap_or(0) > 1 {
                format!("{name} ({})", id.rsplit('-').next().unwrap_or(id))
            } else {
                name.clone()
            };
            (label, *v)
        })
        .collect()
}

fn apply(vec: &GaugeVec, seen: &mut HashSet<String>, values: Vec<(String, f64)>) {
    let now: HashSet<String> = values.iter().map(|(l, _)| l.clone()).collect();
    for (label, v) in &values {
        vec.with_label_values(&[label.as_str()]).set(*v);
    }
    for old in seen.difference(&now) {
        let _ = vec.remove_label_values(&[old.as_str()]);
    }
    *seen = now;
}

impl BusinessGauges {
    /// Re-reads the four gauges from the database for the business-local date
    /// `today`. Cheap: indexed aggregates, utilization over the last 30 days.
    /// Fails only on database errors, leaving the previous values in place.
    pub fn refresh(
        &self,
        c: &Connection,
        today: NaiveDate,
        tz: chrono_tz::Tz,
    ) -> Result<(), DbError> {
        let revenue = repo::revenue_total_cents(c)?;
        let active = repo::active_work_orders(c)?;
        let equipment = repo::equipment(
            c,
            &DateRange::last_days(today, DEFAULT_RANGE_DAYS),
            tz,
            false,
        )?;
        let employees = repo::employees(
            c,
            &DateRange::last_days(today, PERFORMANCE_RANGE_DAYS),
            today,
            tz,
            true,
        )?;
        let eq: Vec<(String, String, f64)> = equipment
            .into_iter()
            .map(|e| (e.id, e.name, e.utilization_percentage))
            .collect();
        let emp: Vec<(String, String, f64)> = employees
            .into_iter()
            .map(|e| (e.id, e.name, e.performance_score))
            .collect();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        self.revenue_total.set(revenue as f64 / 100.0);
        self.work_orders_active.set(active);
        apply(&self.equipment_utilization, &mut seen.0, labels(&eq));
        apply(&self.employee_performance, &mut seen.1, labels(&emp));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_names_get_an_id_suffix() {
        let l = labels(&[
            (
                "0190a1b2-0000-7000-8000-00000000000a".into(),
                "Van".into(),
                1.0,
            ),
            (
                "0190a1b2-0000-7000-8000-00000000000b".into(),
                "Van".into(),
                2.0,
            ),
            ("abc".into(), "Jetter".into(), 3.0),
        ]);
        assert_eq!(l[0].0, "Van (00000000000a)");
        assert_eq!(l[1].0, "Van (00000000000b)");
        assert_eq!(l[2].0, "Jetter");
    }

    #[test]
    fn refresh_sets_and_removes_series() {
        let r = Registry::new();
        let g = register(&r).unwrap();
        let mut seen = HashSet::new();
        apply(
            &g.equipment_utilization,
            &mut seen,
            vec![("A".into(), 1.5), ("B".into(), 2.0)],
        );
        apply(&g.equipment_utilization, &mut seen, vec![("B".into(), 3.0)]);
        let fams = r.gather();
        let fam = fams
            .iter()
            .find(|f| f.name() == "quant_equipment_utilization_percentage")
            .unwrap();
        assert_eq!(fam.get_metric().len(), 1);
        assert_eq!(fam.get_metric()[0].get_gauge().get_value(), 3.0);
    }
}
