//! Helpers for typed configuration sections: value checks that run during
//! deserialization, so a bad value is reported at its line and column in the file; and
//! the parsers of the binaries' numeric command-line options.

use serde::{Deserialize, Deserializer};

/// Deserialize an `f64` that must lie in `[0, 1]`.
pub fn unit_interval<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected a number between 0 and 1, got {v}"
        )))
    }
}

/// Deserialize an `f64` that must lie strictly between 0 and 1.
pub fn open_unit_interval<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v > 0.0 && v < 1.0 {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected a number strictly between 0 and 1, got {v}"
        )))
    }
}

/// Deserialize a finite `f64` greater than zero.
pub fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected a finite number greater than 0, got {v}"
        )))
    }
}

/// Deserialize an integer that must be at least 1.
pub fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let v = usize::deserialize(d)?;
    if v >= 1 {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(
            "expected an integer of at least 1, got 0",
        ))
    }
}

/// A command-line count of at least 1 (a value parser of the binaries' flags).
pub fn parse_count(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        Ok(_) => Err("expected at least 1".into()),
        Err(e) => Err(format!("expected a whole number: {e}")),
    }
}

/// A command-line share strictly between 0 and 1 (a value parser of the binaries' flags).
pub fn parse_open_fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v > 0.0 && v < 1.0 => Ok(v),
        Ok(v) => Err(format!("expected a number strictly between 0 and 1, got {v}")),
        Err(e) => Err(format!("expected a number: {e}")),
    }
}
