//! Peak memory of a stage: the process's resident-set high-water mark (`VmHWM` in
//! `/proc/self/status`), reset before each stage by writing `5` to
//! `/proc/self/clear_refs` (Linux 4.0 and later). Elsewhere, or where the kernel refuses
//! the reset, no figure is given rather than a wrong one.

use std::fs;

/// Reset the high-water mark to the current resident set; whether that worked.
pub fn reset_peak() -> bool {
    fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The resident-set high-water mark in MiB since the last [`reset_peak`] (or since the
/// process started), if the platform reports it.
pub fn peak_mib() -> Option<f64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_rises_with_an_allocation_and_falls_after_a_reset() {
        let Some(before) = peak_mib() else {
            return; // not Linux: nothing to measure
        };
        let block = vec![1u8; 64 << 20];
        std::hint::black_box(&block);
        let during = peak_mib().unwrap_or(0.0);
        assert!(during >= before.max(60.0), "{before} -> {during}");
        drop(block);
        if reset_peak() {
            let after = peak_mib().unwrap_or(f64::MAX);
            assert!(after < during - 32.0, "{during} -> {after}");
        }
    }
}
