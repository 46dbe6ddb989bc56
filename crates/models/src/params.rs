//! The one way hyperparameters are checked, in the style of linfa's `ParamGuard`: every
//! model's `*Params` (plain fields, `Default`, serde) has a `check()` that returns its
//! `Valid*Params`, and only a `Valid*Params` can fit. The rules below give the same
//! message on both paths: a config file (the serde functions run them on each key, so the
//! error names its line) and parameters built in code (`check()` runs them all, and the
//! rules that involve several fields).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ModelError;

/// The value rules (`replay_core::config::rule`), and the bins of a binned feature.
pub(crate) mod rule {
    pub use replay_core::config::rule::*;

    /// A number of value bins, 2 to 255.
    pub fn bins(v: usize) -> Result<(), String> {
        if (2..=crate::binning::MAX_VALUE_BINS).contains(&v) {
            Ok(())
        } else {
            Err(format!("expected between 2 and 255 bins, got {v}"))
        }
    }
}

/// `result` as a [`ModelError::InvalidParam`] of `name`.
pub(crate) fn check(name: &'static str, result: Result<(), String>) -> Result<(), ModelError> {
    result.map_err(|message| invalid(name, message))
}

/// An [`ModelError::InvalidParam`].
pub(crate) fn invalid(name: &'static str, message: impl Into<String>) -> ModelError {
    ModelError::InvalidParam {
        name,
        message: message.into(),
    }
}

pub(crate) use replay_core::config::{
    at_least_one, at_least_two, fraction, non_negative, open_unit_interval as open_unit, opt_at_least_one,
    positive,
};

/// Deserialize a number of bins between 2 and 255.
pub(crate) fn bins<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    replay_core::config::checked(d, rule::bins)
}

/// Declares `Valid*Params`: hyperparameters that passed their `check()`. Only `check()`
/// builds one (the field is private), and the fitting functions take nothing else; it
/// reads as the checked `*Params` through `Deref`.
macro_rules! valid_params {
    ($(#[$doc:meta])* $valid:ident, $params:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $valid($params);

        impl $valid {
            /// Only `check()` calls this, after checking every value.
            pub(crate) fn checked(params: &$params) -> Self {
                $valid(params.clone())
            }

            /// The checked hyperparameters.
            pub fn params(&self) -> &$params {
                &self.0
            }
        }

        impl ::std::ops::Deref for $valid {
            type Target = $params;
            fn deref(&self) -> &$params {
                &self.0
            }
        }
    };
}
pub(crate) use valid_params;

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
            MaxFeatures::Fraction(f) => check("max_features", rule::fraction(f)),
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
            // A number follows the rule `check` applies, with its message.
            Raw::Number(f) => rule::fraction(f)
                .map(|()| MaxFeatures::Fraction(f))
                .map_err(serde::de::Error::custom),
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
