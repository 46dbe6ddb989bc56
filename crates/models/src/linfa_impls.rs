//! The ensembles in the linfa ecosystem: their hyperparameters implement `Fit` on a
//! `Dataset<f64, bool>` and the fitted models `PredictInplace` of probabilities.

use linfa::traits::{Fit, PredictInplace};
use linfa::DatasetBase;
use ndarray::{Array1, Array2};

use crate::boosting::{self, BoostingParams, GradientBoosting, ValidBoostingParams};
use crate::forest::{self, ForestParams, RandomForest, ValidForestParams};
use crate::ModelError;

impl Fit<Array2<f64>, Array1<bool>, ModelError> for ValidForestParams {
    type Object = RandomForest;

    fn fit(&self, dataset: &DatasetBase<Array2<f64>, Array1<bool>>) -> Result<RandomForest, ModelError> {
        forest::fit(self, dataset.records().view(), dataset.targets().view())
    }
}

/// Checks first, as linfa's unchecked parameter types do.
impl Fit<Array2<f64>, Array1<bool>, ModelError> for ForestParams {
    type Object = RandomForest;

    fn fit(&self, dataset: &DatasetBase<Array2<f64>, Array1<bool>>) -> Result<RandomForest, ModelError> {
        self.check()?.fit(dataset)
    }
}

impl Fit<Array2<f64>, Array1<bool>, ModelError> for ValidBoostingParams {
    type Object = GradientBoosting;

    fn fit(&self, dataset: &DatasetBase<Array2<f64>, Array1<bool>>) -> Result<GradientBoosting, ModelError> {
        boosting::fit(self, dataset.records().view(), dataset.targets().view())
    }
}

/// Checks first, as linfa's unchecked parameter types do.
impl Fit<Array2<f64>, Array1<bool>, ModelError> for BoostingParams {
    type Object = GradientBoosting;

    fn fit(&self, dataset: &DatasetBase<Array2<f64>, Array1<bool>>) -> Result<GradientBoosting, ModelError> {
        self.check()?.fit(dataset)
    }
}

impl PredictInplace<Array2<f64>, Array1<f64>> for RandomForest {
    /// # Panics
    /// As linfa's models, on a shape mismatch: unless `y` has one entry per row of `x`
    /// and `x` the model's number of inputs.
    fn predict_inplace(&self, x: &Array2<f64>, y: &mut Array1<f64>) {
        assert_eq!(x.nrows(), y.len(), "one target per row");
        match self.predict_proba(x.view()) {
            Ok(p) => y.assign(&p),
            Err(e) => panic!("{e}"),
        }
    }

    fn default_target(&self, x: &Array2<f64>) -> Array1<f64> {
        Array1::zeros(x.nrows())
    }
}

impl PredictInplace<Array2<f64>, Array1<f64>> for GradientBoosting {
    /// # Panics
    /// As linfa's models, on a shape mismatch: unless `y` has one entry per row of `x`
    /// and `x` the model's number of inputs.
    fn predict_inplace(&self, x: &Array2<f64>, y: &mut Array1<f64>) {
        assert_eq!(x.nrows(), y.len(), "one target per row");
        match self.predict_proba(x.view()) {
            Ok(p) => y.assign(&p),
            Err(e) => panic!("{e}"),
        }
    }

    fn default_target(&self, x: &Array2<f64>) -> Array1<f64> {
        Array1::zeros(x.nrows())
    }
}
