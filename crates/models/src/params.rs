//! Value checks of ensemble hyperparameters: serde helpers that reject bad values while
//! the config file is read (so errors point at the line), the same checks for
//! parameters built in code, and [`MaxFeatures`].

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ModelError;

/// An [`ModelError::InvalidParam`].
pub(crate) fn invalid(name: &'static str, message: impl Into<String>) -> ModelError {
    ModelError::InvalidParam {
        name,
        message: message.into(),
    }
}

/// Check `lo <= v` for an integer parameter.
pub(crate) fn check_min(name: &'static str, v: usize, lo: usize) -> Result<(), ModelError> {
    if v >= lo {
        Ok(())
    } else {
        Err(invalid(name, format!("must be at least {lo}, got {v}")))
    }
}

/// Check `0 < v <= 1`.
pub(crate) fn check_fraction(name: &'static str, v: f64) -> Result<(), ModelError> {
    if v > 0.0 && v <= 1.0 {
        Ok(())
    } else {
        Err(invalid(name, format!("must be in (0, 1], got {v}")))
    }
}

/// Check a finite `v >= 0`.
pub(crate) fn check_non_negative(name: &'static str, v: f64) -> Result<(), ModelError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(invalid(name, format!("must be a finite number >= 0, got {v}")))
    }
}

/// Deserialize an optional integer that must be at least 1 when present.
pub(crate) fn opt_at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let v = Option::<usize>::deserialize(d)?;
    if v == Some(0) {
        return Err(serde::de::Error::custom(
            "expected an integer of at least 1, got 0",
        ));
    }
    Ok(v)
}

/// Deserialize an integer of at least 2.
pub(crate) fn at_least_two<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let v = usize::deserialize(d)?;
    if v >= 2 {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected an integer of at least 2, got {v}"
        )))
    }
}

/// Deserialize a number of bins between 2 and 255.
pub(crate) fn bins<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let v = usize::deserialize(d)?;
    if (2..=crate::binning::MAX_VALUE_BINS).contains(&v) {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected between 2 and 255 bins, got {v}"
        )))
    }
}

/// Deserialize a fraction in `(0, 1]`.
pub(crate) fn fraction<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    check_fraction("", v)
        .map_err(|_| serde::de::Error::custom(format!("expected a number in (0, 1], got {v}")))?;
    Ok(v)
}

/// Deserialize a finite number `>= 0`.
pub(crate) fn non_negative<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    check_non_negative("", v)
        .map_err(|_| serde::de::Error::custom(format!("expected a finite number >= 0, got {v}")))?;
    Ok(v)
}

/// How many features each split of a random forest draws, as scikit-learn's
/// `max_features`. Written `"sqrt"`, `"log2"`, `"all"` or a fraction in `(0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxFeatures {
    /// `max(1, floor(sqrt(p)))`.
    Sqrt,
    /// `max(1, floor(log2(p)))`.
    Log2,
    /// All `p` features.
    All,
    /// `max(1, floor(fraction · p))`.
    Fraction(f64),
}

impl MaxFeatures {
    /// The number of features drawn per split among `p`.
    pub fn resolve(self, p: usize) -> usize {
        let k = match self {
            MaxFeatures::Sqrt => (p as f64).sqrt().floor() as usize,
            MaxFeatures::Log2 => (p as f64).log2().floor() as usize,
            MaxFeatures::All => p,
            MaxFeatures::Fraction(f) => (f * p as f64).floor() as usize,
        };
        k.clamp(1, p.max(1))
    }

    /// Check a fraction lies in `(0, 1]`.
    pub(crate) fn check(self) -> Result<(), ModelError> {
        match self {
            MaxFeatures::Fraction(f) => check_fraction("max_features", f),
            _ => Ok(()),
        }
    }
}

impl Serialize for MaxFeatures {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MaxFeatures::Sqrt => s.serialize_str("sqrt"),
            MaxFeatures::Log2 => s.serialize_str("log2"),
            MaxFeatures::All => s.serialize_str("all"),
            MaxFeatures::Fraction(f) => s.serialize_f64(*f),
        }
    }
}

impl<'de> Deserialize<'de> for MaxFeatures {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Name(String),
            Number(f64),
        }
        let bad = |what: String| {
            serde::de::Error::custom(format!(
                "expected \"sqrt\", \"log2\", \"all\" or a fraction in (0, 1], got {what}"
            ))
        };
        match Raw::deserialize(d)? {
            Raw::Name(s) => match s.as_str() {
                "sqrt" => Ok(MaxFeatures::Sqrt),
                "log2" => Ok(MaxFeatures::Log2),
                "all" => Ok(MaxFeatures::All),
                _ => Err(bad(format!("\"{s}\""))),
            },
            Raw::Number(f) if f > 0.0 && f <= 1.0 => Ok(MaxFeatures::Fraction(f)),
            Raw::Number(f) => Err(bad(f.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_features_follow_scikit_learn() {
        assert_eq!(MaxFeatures::Sqrt.resolve(14), 3);
        assert_eq!(MaxFeatures::Log2.resolve(14), 3);
        assert_eq!(MaxFeatures::All.resolve(14), 14);
        assert_eq!(MaxFeatures::Fraction(0.5).resolve(14), 7);
        assert_eq!(MaxFeatures::Fraction(0.01).resolve(14), 1);
        for (text, want) in [
            ("\"sqrt\"", MaxFeatures::Sqrt),
            ("0.25", MaxFeatures::Fraction(0.25)),
        ] {
            let m: MaxFeatures = serde_json::from_str(text).unwrap();
            assert_eq!(m, want);
            assert_eq!(serde_json::to_string(&m).unwrap(), text);
        }
        assert!(serde_json::from_str::<MaxFeatures>("\"half\"").is_err());
        assert!(serde_json::from_str::<MaxFeatures>("1.5").is_err());
    }
}
