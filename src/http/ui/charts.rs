//! Server-rendered SVG charts for the dashboard: no JavaScript, no external
//! library. Each function takes the dashboard's series (from
//! [`crate::db::analytics::dashboard`]) and returns one complete `<svg>`
//! element as a string: `role="img"`, an `aria-label` summarising it, a
//! `<title>`, and a `<title>` on every bar for pointer users. Every piece of
//! text that comes from data is escaped here ([`esc`]), so the string is safe
//! to insert into a page as is (the dashboard marks it safe).
//!
//! Geometry: a fixed `viewBox` ([`WIDTH`] wide) that CSS scales to the card,
//! so the charts read on a 360 px phone and a desktop alike. Styling is by
//! class (`bar`, `bar cost`, `bar neg`, `axis`, `grid`), never inline `style`
//! (the Content-Security-Policy forbids it).

use crate::db::analytics::{MonthPoint, ServiceMargin, StatusCounts};
use crate::http::templates::{money, thousands};
use std::fmt::Write;

/// Width of every chart's `viewBox`.
pub const WIDTH: f64 = 320.0;
/// Most service types the margin chart shows (the table has them all).
pub const MAX_SERVICE_ROWS: usize = 8;
/// Most month labels along the revenue chart's axis (others are skipped).
const MAX_MONTH_LABELS: usize = 7;

/// Escapes text for SVG/HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Cuts `s` to at most `max` characters, ending with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A "nice" axis for values up to `v`: the step (1, 2 or 5 × 10ⁿ, in the
/// unit of `v`) that reaches `v` in at most 5 steps, and the axis maximum, the
/// first multiple of the step ≥ `v`. Returns `(max, step)`; `v ≤ 0` gives
/// `(4, 1)` so an empty chart still has an axis.
pub fn nice_scale(v: i64) -> (i64, i64) {
    if v <= 0 {
        return (4, 1);
    }
    let mut pow: i64 = 1;
    loop {
        for m in [1, 2, 5] {
            let step = pow.saturating_mul(m);
            if step.saturating_mul(5) >= v {
                let n = (v - 1) / step + 1;
                return (step.saturating_mul(n), step);
            }
        }
        if pow > i64::MAX / 10 {
            return (v, v);
        }
        pow *= 10;
    }
}

/// Cents as a short axis label without losing the digit that matters:
/// `$0`, `$500`, `$1.5K`, `$20K`, `$1.25M`.
pub fn axis_money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let dollars = cents.unsigned_abs() as f64 / 100.0;
    let short = |v: f64, unit: &str| {
        let s = format!("{v:.2}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        format!("{sign}${s}{unit}")
    };
    if dollars >= 1_000_000.0 {
        short(dollars / 1_000_000.0, "M")
    } else if dollars >= 1_000.0 {
        short(dollars / 1_000.0, "K")
    } else {
        short(dollars, "")
    }
}

/// `value` scaled from `[0, max]` onto `[0, len]`, clamped.
pub fn scale(value: i64, max: i64, len: f64) -> f64 {
    if max <= 0 {
        return 0.0;
    }
    (value.max(0) as f64 / max as f64 * len).clamp(0.0, len)
}

fn open(out: &mut String, id: &str, testid: &str, height: f64, title: &str, label: &str) {
    let _ = write!(
        out,
        "<svg class=\"chart\" id=\"{id}\" data-testid=\"{testid}\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"{}\" focusable=\"false\"><title>{}</title>",
        esc(label),
        esc(title)
    );
}

fn empty_note(out: &mut String, y: f64, text: &str) {
    let _ = write!(
        out,
        "<text class=\"empty\" x=\"{:.1}\" y=\"{y:.1}\" text-anchor=\"middle\">{}</text>",
        WIDTH / 2.0,
        esc(text)
    );
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `2025-03` → (`Mar`, `2025`); anything else is shown as it is.
fn month_parts(m: &str) -> (String, String) {
    let parsed = m.split_once('-').and_then(|(y, mm)| {
        let year_ok = y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit());
        let i = mm.parse::<usize>().ok().filter(|i| (1..=12).contains(i))?;
        year_ok.then(|| (MONTHS[i - 1].to_string(), y.to_string()))
    });
    parsed.unwrap_or_else(|| (m.to_string(), String::new()))
}

/// `2025-03` → `Mar 2025`; anything else is returned as it is.
pub fn month_name(m: &str) -> String {
    let (name, year) = month_parts(m);
    if year.is_empty() {
        name
    } else {
        format!("{name} {year}")
    }
}

/// Revenue and cost per month as pairs of vertical bars, with a money axis
/// and a legend.
pub fn revenue_by_month(points: &[MonthPoint]) -> String {
    const H: f64 = 210.0;
    const LEFT: f64 = 44.0;
    const RIGHT: f64 = 6.0;
    const TOP: f64 = 26.0;
    const BOTTOM: f64 = 34.0;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let base = TOP + plot_h;
    let revenue: i64 = points.iter().map(|p| p.revenue.cents()).sum();
    let cost: i64 = points.iter().map(|p| p.cost.cents()).sum();
    let span = match (points.first(), points.last()) {
        (Some(a), Some(b)) if a.month != b.month => {
            format!("{} to {}", month_name(&a.month), month_name(&b.month))
        }
        (Some(a), _) => month_name(&a.month),
        _ => "no months".into(),
    };
    let label = format!(
        "Bar chart of revenue and cost by month, {span}: revenue {} in total, cost {}.",
        money(revenue),
        money(cost)
    );
    let mut out = String::new();
    open(
        &mut out,
        "chart-revenue",
        "revenue-chart",
        H,
        "Revenue and cost by month",
        &label,
    );
    // Legend.
    out.push_str(
        "<g class=\"legend\"><rect class=\"key\" x=\"44\" y=\"6\" width=\"10\" height=\"10\"/><text x=\"58\" y=\"15\">Revenue</text>\
         <rect class=\"key cost\" x=\"120\" y=\"6\" width=\"10\" height=\"10\"/><text x=\"134\" y=\"15\">Cost</text></g>",
    );
    let top = points
        .iter()
        .map(|p| p.revenue.cents().max(p.cost.cents()))
        .max()
        .unwrap_or(0);
    let (max, step) = nice_scale(top);
    // Grid lines and money labels.
    let mut tick = 0;
    while tick <= max {
        let y = base - scale(tick, max, plot_h);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 4.0,
            y + 4.0,
            esc(&axis_money(tick))
        );
        tick += step;
    }
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{base:.1}\" y2=\"{base:.1}\"/>",
        WIDTH - RIGHT
    );
    if top <= 0 {
        empty_note(
            &mut out,
            TOP + plot_h / 2.0,
            "No completed jobs in this range",
        );
    }
    let n = points.len().max(1);
    let group = plot_w / n as f64;
    let bar = (group * 0.36).min(18.0);
    let every = n.div_ceil(MAX_MONTH_LABELS).max(1);
    let mut shown_year = String::new();
    for (i, p) in points.iter().enumerate() {
        let x0 = LEFT + group * i as f64 + (group - 2.0 * bar) / 2.0;
        let name = month_name(&p.month);
        for (j, (cls, what, v)) in [
            ("bar", "revenue", p.revenue.cents()),
            ("bar cost", "cost", p.cost.cents()),
        ]
        .into_iter()
        .enumerate()
        {
            let h = scale(v, max, plot_h);
            if h <= 0.0 {
                continue;
            }
            let _ = write!(
                out,
                "<rect class=\"{cls}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\"><title>{}: {what} {}</title></rect>",
                x0 + bar * j as f64,
                base - h,
                esc(&name),
                esc(&money(v))
            );
        }
        if i % every == 0 {
            let (m, y) = month_parts(&p.month);
            let cx = LEFT + group * (i as f64 + 0.5);
            let _ = write!(
                out,
                "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                base + 14.0,
                esc(&m)
            );
            // The year under the first labelled month of each year.
            if y != shown_year {
                let _ = write!(
                    out,
                    "<text class=\"sub\" x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                    base + 28.0,
                    esc(&y)
                );
                shown_year = y;
            }
        }
    }
    out.push_str("</svg>");
    out
}

/// The five work-order statuses as labelled horizontal bars with counts.
pub fn jobs_by_status(s: &StatusCounts) -> String {
    let rows = [
        ("Draft", "draft", s.draft),
        ("Scheduled", "scheduled", s.scheduled),
        ("In progress", "in_progress", s.in_progress),
        ("Completed", "completed", s.completed),
        ("Cancelled", "cancelled", s.cancelled),
    ];
    const ROW: f64 = 30.0;
    const LEFT: f64 = 86.0;
    const VALUE_W: f64 = 46.0;
    let h = ROW * rows.len() as f64 + 10.0;
    let plot_w = WIDTH - LEFT - VALUE_W;
    let total: i64 = rows.iter().map(|r| r.2).sum();
    let label = format!(
        "Bar chart of work orders created in this range by status: {}.",
        rows.iter()
            .map(|(name, _, n)| format!(
                "{} {}",
                name.to_lowercase(),
                thousands(n.max(&0).unsigned_abs().into())
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut out = String::new();
    open(
        &mut out,
        "chart-status",
        "jobs-chart",
        h,
        "Work orders by status",
        &label,
    );
    let max = rows.iter().map(|r| r.2).max().unwrap_or(0);
    for (i, (name, key, n)) in rows.iter().enumerate() {
        let y = 5.0 + ROW * i as f64;
        // A non-zero count always shows a sliver of a bar.
        let w = if *n > 0 {
            scale(*n, max, plot_w).max(2.0)
        } else {
            0.0
        };
        let count = thousands(n.max(&0).unsigned_abs().into());
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{name}</text>",
            LEFT - 6.0,
            y + 19.0
        );
        if w > 0.0 {
            let _ = write!(
                out,
                "<rect class=\"bar s-{key}\" x=\"{LEFT}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\"><title>{name}: {count}</title></rect>",
                y + 5.0,
                ROW - 10.0
            );
        }
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\">{count}</text>",
            LEFT + w + 4.0,
            y + 19.0
        );
    }
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"5\" y2=\"{:.1}\"/>",
        h - 5.0
    );
    if total == 0 {
        empty_note(
            &mut out,
            h - 2.0,
            "No work orders were created in this range",
        );
    }
    out.push_str("</svg>");
    out
}

/// Margin per service type (at most [`MAX_SERVICE_ROWS`], highest revenue
/// first as given) as horizontal bars from a zero line; negative margins
/// extend left of it. Bars are clipped to −100 %…100 %; the value column
/// always shows the true margin.
pub fn margin_by_service(rows: &[ServiceMargin]) -> String {
    const ROW: f64 = 28.0;
    const LEFT: f64 = 112.0;
    const VALUE_W: f64 = 44.0;
    let shown = &rows[..rows.len().min(MAX_SERVICE_ROWS)];
    let h = (ROW * shown.len().max(1) as f64 + 26.0).max(80.0);
    let plot_w = WIDTH - LEFT - VALUE_W;
    let lo = shown
        .iter()
        .map(|r| r.margin)
        .filter(|m| m.is_finite())
        .fold(0.0_f64, f64::min)
        .max(-1.0);
    let mut hi = shown
        .iter()
        .map(|r| r.margin)
        .filter(|m| m.is_finite())
        .fold(0.0_f64, f64::max)
        .min(1.0);
    if hi - lo < 1e-9 {
        hi = 1.0;
    }
    let x_of = |m: f64| LEFT + (m.clamp(lo, hi) - lo) / (hi - lo) * plot_w;
    let zero = x_of(0.0);
    let pct = |m: f64| {
        if m.is_finite() {
            format!("{:.0}%", m * 100.0)
        } else {
            "—".into()
        }
    };
    let label = if shown.is_empty() {
        "Bar chart of profit margin by service type: no completed jobs in this range.".to_string()
    } else {
        format!(
            "Bar chart of profit margin by service type: {}{}.",
            shown
                .iter()
                .map(|r| format!("{} {}", r.service_type, pct(r.margin)))
                .collect::<Vec<_>>()
                .join(", "),
            if rows.len() > shown.len() {
                format!(" and {} more in the table", rows.len() - shown.len())
            } else {
                String::new()
            }
        )
    };
    let mut out = String::new();
    open(
        &mut out,
        "chart-margin",
        "margin-chart",
        h,
        "Profit margin by service type",
        &label,
    );
    if shown.is_empty() {
        empty_note(&mut out, h / 2.0, "No completed jobs in this range");
    }
    for (i, r) in shown.iter().enumerate() {
        let y = 4.0 + ROW * i as f64;
        let x = x_of(r.margin);
        let (left, w) = if x >= zero {
            (zero, x - zero)
        } else {
            (x, zero - x)
        };
        let cls = if r.margin < 0.0 { "bar neg" } else { "bar" };
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT - 6.0,
            y + 18.0,
            esc(&truncate(&r.service_type, 15))
        );
        if w > 0.0 {
            let _ = write!(
                out,
                "<rect class=\"{cls}\" x=\"{left:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\"><title>{}: margin {} on {} revenue, {} jobs</title></rect>",
                y + 5.0,
                ROW - 10.0,
                esc(&r.service_type),
                esc(&pct(r.margin)),
                esc(&money(r.revenue.cents())),
                r.jobs
            );
        }
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - 2.0,
            y + 18.0,
            esc(&pct(r.margin))
        );
    }
    let bottom = 4.0 + ROW * shown.len().max(1) as f64;
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{zero:.1}\" x2=\"{zero:.1}\" y1=\"4\" y2=\"{bottom:.1}\"/>\
         <text class=\"sub\" x=\"{zero:.1}\" y=\"{:.1}\" text-anchor=\"middle\">0%</text>",
        bottom + 14.0
    );
    if !shown.is_empty() {
        for (m, anchor) in [(lo, "start"), (hi, "end")] {
            if (m - 0.0).abs() > 0.05 {
                let _ = write!(
                    out,
                    "<text class=\"sub\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
                    x_of(m),
                    bottom + 14.0,
                    esc(&pct(m))
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Money;

    fn month(m: &str, revenue: i64, cost: i64) -> MonthPoint {
        MonthPoint {
            month: m.into(),
            revenue: Money::from_cents(revenue),
            cost: Money::from_cents(cost),
            jobs: 1,
        }
    }

    fn service(name: &str, revenue: i64, cost: i64) -> ServiceMargin {
        let margin = if revenue == 0 {
            0.0
        } else {
            (revenue - cost) as f64 / revenue as f64
        };
        ServiceMargin {
            service_type: name.into(),
            revenue: Money::from_cents(revenue),
            cost: Money::from_cents(cost),
            margin,
            jobs: 2,
        }
    }

    /// The numeric attribute `attr` of every `<rect class="bar…">`.
    fn bars(svg: &str, attr: &str) -> Vec<f64> {
        svg.split("<rect class=\"bar")
            .skip(1)
            .map(|r| {
                let key = format!(" {attr}=\"");
                let at = r.find(&key).unwrap() + key.len();
                r[at..].split('"').next().unwrap().parse().unwrap()
            })
            .collect()
    }

    /// Checks that tags nest and close properly and that the accessible
    /// parts are there.
    fn well_formed(svg: &str) {
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"), "{svg}");
        assert!(svg.contains("role=\"img\"") && svg.contains("aria-label=\""));
        assert!(svg.contains("<title>"));
        assert!(!svg.contains("style="), "no inline styles under the CSP");
        let mut stack: Vec<String> = Vec::new();
        let mut rest = svg;
        while let Some(start) = rest.find('<') {
            let end = rest[start..].find('>').expect("tag closes") + start;
            let tag = &rest[start + 1..end];
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "in {svg}");
            } else if !tag.ends_with('/') {
                let name = tag.split_whitespace().next().unwrap_or("");
                stack.push(name.to_string());
            }
            assert!(!tag.contains('<'), "stray < in {tag}");
            rest = &rest[end + 1..];
        }
        assert!(stack.is_empty(), "unclosed {stack:?}");
    }

    #[test]
    fn nice_scales_cover_the_value_in_at_most_five_steps() {
        assert_eq!(nice_scale(0), (4, 1));
        assert_eq!(nice_scale(-5), (4, 1));
        assert_eq!(nice_scale(1), (1, 1));
        assert_eq!(nice_scale(7), (8, 2));
        assert_eq!(nice_scale(95), (100, 20));
        assert_eq!(nice_scale(100), (100, 20));
        assert_eq!(nice_scale(101), (150, 50));
        assert_eq!(nice_scale(4_500_000), (5_000_000, 1_000_000));
        for v in [
            1,
            3,
            9,
            10,
            11,
            49,
            51,
            99,
            250,
            999,
            12_345,
            987_654_321,
            i64::MAX / 3,
        ] {
            let (max, step) = nice_scale(v);
            assert!(max >= v, "{v}: {max}");
            assert_eq!(max % step, 0, "{v}");
            assert!((1..=5).contains(&(max / step)), "{v}: {max}/{step}");
            assert!(max - v < step, "{v}: {max} is not tight");
        }
        assert_eq!(scale(50, 100, 200.0), 100.0);
        assert_eq!(scale(-5, 100, 200.0), 0.0);
        assert_eq!(scale(500, 100, 200.0), 200.0);
        assert_eq!(scale(5, 0, 200.0), 0.0);
        assert_eq!(axis_money(0), "$0");
        assert_eq!(axis_money(50_000), "$500");
        assert_eq!(axis_money(150_000), "$1.5K");
        assert_eq!(axis_money(2_000_000), "$20K");
        assert_eq!(axis_money(125_000_000), "$1.25M");
    }

    #[test]
    fn revenue_bars_scale_to_the_largest_value() {
        let svg = revenue_by_month(&[
            month("2025-01", 400_000, 100_000),
            month("2025-02", 200_000, 300_000),
        ]);
        well_formed(&svg);
        let heights = bars(&svg, "height");
        assert_eq!(heights.len(), 4);
        // max $4,000 → axis to $4K in $1K steps; $4,000 is the full plot height.
        let full = heights[0];
        assert!((heights[1] - full / 4.0).abs() < 0.2, "{heights:?}");
        assert!((heights[2] - full / 2.0).abs() < 0.2, "{heights:?}");
        assert!((heights[3] - full * 3.0 / 4.0).abs() < 0.2, "{heights:?}");
        assert!(svg.contains(">$4K<"), "{svg}");
        assert!(svg.contains(">Jan<") && svg.contains(">Feb<") && svg.contains(">2025<"));
        assert!(svg.contains("Jan 2025: revenue $4,000.00"));
        assert!(svg.contains("Jan 2025 to Feb 2025"));
    }

    #[test]
    fn empty_data_still_draws_labelled_axes() {
        let svg = revenue_by_month(&[month("2025-03", 0, 0)]);
        well_formed(&svg);
        assert!(bars(&svg, "height").is_empty());
        assert!(svg.contains("No completed jobs in this range"));
        let svg = revenue_by_month(&[]);
        well_formed(&svg);
        assert!(svg.contains("no months"));

        let svg = jobs_by_status(&StatusCounts::default());
        well_formed(&svg);
        assert!(bars(&svg, "width").is_empty());
        assert!(svg.contains("No work orders were created"));
        assert!(svg.contains(">Completed<"));

        let svg = margin_by_service(&[]);
        well_formed(&svg);
        assert!(bars(&svg, "width").is_empty());
        assert!(svg.contains("No completed jobs"));
    }

    #[test]
    fn many_months_get_thinned_labels() {
        let points: Vec<MonthPoint> = (0..24)
            .map(|i| month(&format!("{}-{:02}", 2024 + i / 12, i % 12 + 1), 1000, 500))
            .collect();
        let svg = revenue_by_month(&points);
        well_formed(&svg);
        assert_eq!(bars(&svg, "height").len(), 48);
        let labels = MONTHS
            .iter()
            .map(|m| svg.matches(&format!(">{m}<")).count())
            .sum::<usize>();
        assert!(labels <= MAX_MONTH_LABELS, "{labels}");
        assert!(svg.contains(">2024<") && svg.contains(">2025<"));
        // Dec 2025 … Nov 2026, every other month labelled (Dec, Feb, …): both years appear.
        let points: Vec<MonthPoint> = (0..12)
            .map(|i| {
                month(
                    &format!("{}-{:02}", 2025 + (i + 11) / 12, (i + 11) % 12 + 1),
                    1000,
                    500,
                )
            })
            .collect();
        assert_eq!(points[0].month, "2025-12");
        assert_eq!(points[1].month, "2026-01");
        let svg = revenue_by_month(&points);
        assert_eq!(svg.matches(">2025<").count(), 1);
        assert_eq!(svg.matches(">2026<").count(), 1);
        assert!(!svg.contains(">Jan<"), "every other month");
    }

    #[test]
    fn status_bars_are_proportional_and_labelled() {
        let svg = jobs_by_status(&StatusCounts {
            draft: 1,
            scheduled: 2,
            in_progress: 0,
            completed: 4,
            cancelled: 8,
        });
        well_formed(&svg);
        let widths = bars(&svg, "width");
        assert_eq!(widths.len(), 4, "no bar for zero");
        assert!((widths[1] / widths[0] - 2.0).abs() < 0.02, "{widths:?}");
        assert!((widths[3] / widths[2] - 2.0).abs() < 0.02, "{widths:?}");
        assert!(svg.contains("class=\"bar s-cancelled\""));
        assert!(svg.contains("in progress 0"));
        let svg = jobs_by_status(&StatusCounts {
            draft: 1,
            cancelled: 1200,
            ..StatusCounts::default()
        });
        assert!(svg.contains(">1,200<"));
        assert_eq!(bars(&svg, "width")[0], 2.0, "a tiny count stays visible");
    }

    #[test]
    fn negative_margins_extend_left_of_zero_and_are_clipped() {
        let svg = margin_by_service(&[
            service("Install", 100_000, 60_000),  // 40 %
            service("Repair", 100_000, 150_000),  // −50 %
            service("Warranty", 10_000, 100_000), // −900 %, clipped to −100 %
        ]);
        well_formed(&svg);
        let xs = bars(&svg, "x");
        let ws = bars(&svg, "width");
        assert_eq!(xs.len(), 3);
        let zero = xs[0];
        // Positive bar starts at zero; negative bars end at zero.
        assert!((xs[1] + ws[1] - zero).abs() < 0.2, "{xs:?} {ws:?}");
        assert!((xs[2] + ws[2] - zero).abs() < 0.2);
        assert!(ws[2] > ws[1], "−100 % is longer than −50 %");
        assert!((ws[2] / ws[1] - 2.0).abs() < 0.05, "clipped at −100 %");
        assert!((ws[0] / ws[1] - 0.8).abs() < 0.05, "40 % vs 50 %");
        assert!(svg.contains("class=\"bar neg\""));
        assert!(svg.contains(">-900%<"), "the true value is shown");
        assert!(svg.contains(">-100%<") && svg.contains(">40%<"));
    }

    #[test]
    fn labels_from_data_are_escaped() {
        let evil = "<script>alert(1)</script> & \"q\"";
        let svg = margin_by_service(&[service(evil, 1000, 500)]);
        well_formed(&svg);
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;"));
        let svg = revenue_by_month(&[month("<b>-1", 100, 0)]);
        assert!(!svg.contains("<b>") && svg.contains("&lt;b&gt;-1"), "{svg}");
        assert_eq!(esc("a\u{7}'b"), "a &#39;b");
        assert_eq!(truncate("Air conditioning repair", 10), "Air condi…");
        assert_eq!(truncate("Short", 10), "Short");
    }

    #[test]
    fn only_the_first_service_types_are_drawn() {
        let rows: Vec<ServiceMargin> = (0..12)
            .map(|i| service(&format!("S{i}"), 1000 - i, 500))
            .collect();
        let svg = margin_by_service(&rows);
        assert_eq!(bars(&svg, "width").len(), MAX_SERVICE_ROWS);
        assert!(svg.contains("and 4 more in the table"));
    }
}
