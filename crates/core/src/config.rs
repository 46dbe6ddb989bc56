//! The value rules of every numeric setting, in one place: [`rule`] says what is allowed
//! and gives the message; [`checked`] applies a rule while a config file is read (so a bad
//! value is reported at its line and column), and the crates' `check()` functions apply
//! the same rules to values built in code. Also the parsers of the binaries' numeric
//! command-line options.

use serde::{Deserialize, Deserializer};

/// The rules; `Err` holds what is expected.
pub mod rule {
    /// An integer of at least `lo`.
    pub fn at_least(v: usize, lo: usize) -> Result<(), String> {
        if v >= lo {
            Ok(())
        } else {
            Err(format!("expected an integer of at least {lo}, got {v}"))
        }
    }

    /// A finite number greater than 0.
    pub fn positive(v: f64) -> Result<(), String> {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(format!("expected a finite number greater than 0, got {v}"))
        }
    }

    /// A finite number of at least 0.
    pub fn non_negative(v: f64) -> Result<(), String> {
        if v.is_finite() && v >= 0.0 {
            Ok(())
        } else {
            Err(format!("expected a finite number >= 0, got {v}"))
        }
    }

    /// A share in `(0, 1]`.
    pub fn fraction(v: f64) -> Result<(), String> {
        if v > 0.0 && v <= 1.0 {
            Ok(())
        } else {
            Err(format!("expected a number in (0, 1], got {v}"))
        }
    }

    /// A share strictly between 0 and 1.
    pub fn open_unit(v: f64) -> Result<(), String> {
        if v > 0.0 && v < 1.0 {
            Ok(())
        } else {
            Err(format!("expected a number strictly between 0 and 1, got {v}"))
        }
    }

    /// A share in `[0, 1]`.
    pub fn unit(v: f64) -> Result<(), String> {
        if (0.0..=1.0).contains(&v) {
            Ok(())
        } else {
            Err(format!("expected a number between 0 and 1, got {v}"))
        }
    }
}

/// Deserialize a value and apply `rule` to it (the error becomes serde's, which the TOML
/// reader places at the value's line and column).
pub fn checked<'de, D: Deserializer<'de>, T: Deserialize<'de> + Copy>(
    d: D,
    rule: impl Fn(T) -> Result<(), String>,
) -> Result<T, D::Error> {
    let v = T::deserialize(d)?;
    rule(v).map_err(serde::de::Error::custom)?;
    Ok(v)
}

/// Deserialize an `f64` that must lie in `[0, 1]`.
pub fn unit_interval<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    checked(d, rule::unit)
}

/// Deserialize an `f64` that must lie strictly between 0 and 1.
pub fn open_unit_interval<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    checked(d, rule::open_unit)
}

/// Deserialize a finite `f64` greater than zero.
pub fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    checked(d, rule::positive)
}

/// Deserialize a finite `f64` of at least zero.
pub fn non_negative<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    checked(d, rule::non_negative)
}

/// Deserialize an `f64` in `(0, 1]`.
pub fn fraction<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    checked(d, rule::fraction)
}

/// Deserialize an integer that must be at least 1.
pub fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    checked(d, |v| rule::at_least(v, 1))
}

/// Deserialize an integer that must be at least 2.
pub fn at_least_two<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    checked(d, |v| rule::at_least(v, 2))
}

/// Deserialize an optional integer that must be at least 1 when present.
pub fn opt_at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    checked(d, |v: Option<usize>| v.map_or(Ok(()), |v| rule::at_least(v, 1)))
}

/// Deserialize an optional integer that must be at least 2 when present.
pub fn opt_at_least_two<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    checked(d, |v: Option<usize>| v.map_or(Ok(()), |v| rule::at_least(v, 2)))
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
    let v = text
        .parse::<f64>()
        .map_err(|e| format!("expected a number: {e}"))?;
    rule::open_unit(v).map(|()| v)
}
