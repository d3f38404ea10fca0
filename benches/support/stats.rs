//! Small statistics shared by the benchmarks (included with `#[path]`).

/// Sorts `ratios` and returns their median (the mean of the middle two
/// when their number is even); NaN when empty. The on ÷ off benchmarks take
/// it as their verdict, robust to one disturbed round.
pub fn sorted_median(ratios: &mut [f64]) -> f64 {
    ratios.sort_by(f64::total_cmp);
    let n = ratios.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => ratios[n / 2],
        _ => (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0,
    }
}
