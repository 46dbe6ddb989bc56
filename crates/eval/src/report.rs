//! The evaluation report: charts plus `report.html` (one self-contained file, images
//! inlined) and `report.md` (for terminals), written side by side.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use base64::Engine as _;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::curves;
use crate::explain_charts::{self, BeeswarmChart, DependenceChart, WaterfallChart};
use crate::plots::{
    self, calibration_points, ConfusionChart, Curve, CurveChart, HistogramChart, ImportanceChart, PlotError,
};
use crate::ranking::Ranking;
use crate::{CalibrationMethod, MetricsReport, ModelMetrics};

/// File name of the HTML report.
pub const HTML_FILE: &str = "report.html";
/// File name of the Markdown report.
pub const MARKDOWN_FILE: &str = "report.md";
/// Directory of the charts, beside the reports.
pub const PLOTS_DIR: &str = "plots";

/// What the data looked like on the way in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatasetSummary {
    /// The source file.
    pub source: String,
    /// Data rows read.
    pub rows_read: u64,
    /// Rows rejected by ingest, in total and per reason.
    pub rows_rejected: u64,
    /// Rejected rows per reason.
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Rows dropped because their id repeated.
    pub duplicate_ids_dropped: usize,
    /// What identifies a song, and so which rows count as repeats.
    pub id_rule: String,
    /// Training rows.
    pub train_rows: usize,
    /// Test rows.
    pub test_rows: usize,
    /// Share of replayed tracks.
    pub positive_rate: f64,
    /// The label rule, e.g. `popularity >= 50`.
    pub label_rule: String,
    /// Model inputs.
    pub features: Vec<String>,
}

/// What the report says about the run besides the models' results.
#[derive(Debug, Clone)]
pub struct ReportPage<'a> {
    /// Title of the report.
    pub title: &'a str,
    /// The data.
    pub dataset: &'a DatasetSummary,
    /// Calibration bins.
    pub calibration_bins: usize,
    /// Test songs each model explains for the explanation section (0: none).
    pub explain_songs: usize,
    /// The configuration of the run, as text.
    pub config: &'a str,
    /// Cache key of every stage of the run.
    pub cache_keys: &'a [(String, String)],
}

/// Everything the report shows.
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    /// Title, data and run details.
    pub page: &'a ReportPage<'a>,
    /// Metrics of every model.
    pub metrics: &'a MetricsReport,
    /// True labels of the test rows.
    pub labels: &'a [bool],
    /// Test-set probabilities of every model, by name.
    pub predictions: &'a [(String, Vec<f64>)],
    /// Feature importances of the models that have them: `(model, [(feature, importance)])`.
    pub importances: &'a [(String, Vec<(String, f64)>)],
    /// Contributions on test songs, best model first (empty: no explanation section).
    pub explanations: &'a [ModelExplanation],
}

/// One model's contributions on test songs: a sample of them, then (for the best model)
/// its highest- and lowest-scored songs.
#[derive(Debug, Clone)]
pub struct ModelExplanation {
    /// The model.
    pub model: String,
    /// What the contributions add up to: `log-odds` or `probability`.
    pub space: String,
    /// The model's expected output (every song's base value).
    pub expected: f64,
    /// The model's inputs (columns of `values` and `contributions`).
    pub inputs: Vec<String>,
    /// Track id of each explained song.
    pub ids: Vec<String>,
    /// The model's probability for each explained song.
    pub probabilities: Vec<f64>,
    /// How many of the songs (the first ones) are the even sample of the test songs;
    /// the rest are the best model's highest-scored songs, then its lowest-scored.
    pub sampled: usize,
    /// Each song's input values, one row per song, one value per input.
    pub values: Vec<Vec<f64>>,
    /// Each song's contributions, one row per song, one value per input.
    pub contributions: Vec<Vec<f64>>,
}

impl ModelExplanation {
    /// Mean |contribution| of every input over the sampled songs, largest first.
    pub fn mean_abs(&self) -> Vec<(String, f64)> {
        let sample = &self.contributions[..self.sampled.min(self.contributions.len())];
        let n = sample.len().max(1) as f64;
        let mut means: Vec<(String, f64)> = self
            .inputs
            .iter()
            .enumerate()
            .map(|(j, name)| {
                let total: f64 = sample.iter().map(|row| row.get(j).map_or(0.0, |v| v.abs())).sum();
                (name.clone(), total / n)
            })
            .collect();
        means.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        means
    }
}

/// A chart of the report: its file stem in [`PLOTS_DIR`] and its caption.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartRef {
    /// File stem (`.png` and `.svg` exist).
    pub stem: String,
    /// Caption.
    pub caption: String,
    /// Whether it belongs to the explanation section ("Why") rather than the results.
    pub explanation: bool,
}

/// Draw every chart into `<out_dir>/plots/` and write both reports into `out_dir`.
pub fn write_report(input: &ReportInput<'_>, out_dir: &Path) -> Result<Vec<ChartRef>, PlotError> {
    let results = draw_results(input, out_dir)?;
    finish_report(input, results, out_dir)
}

/// The first half of [`write_report`]: the charts of the results, which do not read
/// `input.explanations` (so they can be drawn while the explanations are computed).
pub fn draw_results(input: &ReportInput<'_>, out_dir: &Path) -> Result<Vec<ChartRef>, PlotError> {
    draw_charts(input, &out_dir.join(PLOTS_DIR))
}

/// The second half of [`write_report`]: the explanation charts after the `results`
/// charts of [`draw_results`], then both reports.
pub fn finish_report(
    input: &ReportInput<'_>,
    mut charts: Vec<ChartRef>,
    out_dir: &Path,
) -> Result<Vec<ChartRef>, PlotError> {
    charts.extend(explanation_charts(input.explanations, &out_dir.join(PLOTS_DIR))?);
    let html = html(input, &charts, &out_dir.join(PLOTS_DIR))?;
    write(&out_dir.join(HTML_FILE), &html)?;
    write(&out_dir.join(MARKDOWN_FILE), &markdown(input, &charts))?;
    Ok(charts)
}

fn write(path: &Path, text: &str) -> Result<(), PlotError> {
    Ok(replay_core::atomic::write_bytes(path, text.as_bytes())?)
}

/// How a curve's legend label is made from a model's name and metrics.
type LabelFn<'a> = &'a dyn Fn(&str, &ModelMetrics) -> String;
/// How a curve's points are made from a model's probabilities and their ranking.
type PointsFn<'a> = &'a dyn Fn(&[f64], &Ranking<'_>) -> Vec<(f64, f64)>;

/// Smallest move, in axis units, between the drawn vertices of a ROC or precision-recall
/// curve (see [`curves::thin`]): under half a pixel, so the curves look the same while
/// their size no longer grows with the number of rows.
pub const CURVE_STEP: f64 = 1.0 / 2000.0;

/// A model's name, probabilities and their ranking (sorted once for both curves).
type RankedModel<'a> = (&'a str, &'a [f64], Ranking<'a>);

/// Rank every model's probabilities (in parallel; the first error in order wins).
fn rank_models<'a>(input: &ReportInput<'a>, dir: &Path) -> Result<Vec<RankedModel<'a>>, PlotError> {
    input
        .predictions
        .par_iter()
        .map(|(name, p)| {
            Ranking::new(input.labels, p)
                .map(|ranking| (name.as_str(), p.as_slice(), ranking))
                .map_err(|e| PlotError {
                    path: dir.into(),
                    message: format!("predictions of {name}: {e}"),
                })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .collect()
}

fn draw_charts(input: &ReportInput<'_>, dir: &Path) -> Result<Vec<ChartRef>, PlotError> {
    let y = input.labels;
    let ranked = input.metrics.ranked();
    let models = rank_models(input, dir)?;
    let model = |name: &str| models.iter().find(|(n, _, _)| *n == name);
    let probabilities = |name: &str| model(name).map(|(_, p, _)| *p);
    let diagonal = vec![(0.0, 0.0), (1.0, 1.0)];
    let mut charts = Vec::new();
    let mut push = |stem: String, caption: String| {
        charts.push(ChartRef {
            stem,
            caption,
            explanation: false,
        })
    };

    let curve_of = |label: LabelFn<'_>, points: PointsFn<'_>| {
        ranked
            .iter()
            .filter_map(|(name, m)| {
                model(name).map(|(_, p, ranking)| Curve {
                    label: label(name, m),
                    points: points(p, ranking),
                    dashed_like: None,
                })
            })
            .collect::<Vec<_>>()
    };
    let roc = CurveChart {
        title: "ROC curves (test set)".into(),
        x_label: "false positive rate".into(),
        y_label: "true positive rate (recall)".into(),
        curves: curve_of(&|n, m| format!("{n} (AUC {:.3})", m.roc_auc), &|_, r| {
            curves::thin(curves::roc_curve(r), CURVE_STEP)
        }),
        reference: Some(("random ranking".into(), diagonal.clone())),
        markers: false,
        legend_lower_right: true,
    };
    plots::save(&roc, dir, "roc")?;
    push("roc".into(), "ROC curves of all models".into());

    let rate = input.metrics.test_set.positive_rate;
    let pr = CurveChart {
        title: "Precision-recall curves (test set)".into(),
        x_label: "recall of replayed".into(),
        y_label: "precision of replayed".into(),
        curves: curve_of(&|n, m| format!("{n} (AP {:.3})", m.pr_auc), &|_, r| {
            curves::thin(curves::precision_recall_curve(r), CURVE_STEP)
        }),
        reference: Some((format!("positive rate {rate:.3}"), vec![(0.0, rate), (1.0, rate)])),
        markers: false,
        legend_lower_right: false,
    };
    plots::save(&pr, dir, "precision_recall")?;
    push(
        "precision_recall".into(),
        "Precision-recall curves of all models".into(),
    );

    let bins = input.page.calibration_bins;
    let mut calibration_curves = curve_of(&|n, m| format!("{n} (ECE {:.3})", m.ece), &|p, _| {
        calibration_points(&curves::calibration(y, p, bins))
    });
    // Calibrated models also show their probabilities before the map, dashed.
    let before: Vec<Curve> = ranked
        .iter()
        .filter(|(name, _)| model(name).is_some())
        .enumerate()
        .filter_map(|(i, (name, m))| {
            m.calibration.as_ref().map(|c| Curve {
                label: format!("{name} before {} (ECE {:.3})", c.method.name(), c.before.ece),
                points: calibration_points(&c.before.curve),
                dashed_like: Some(i),
            })
        })
        .collect();
    let any_calibrated = !before.is_empty();
    calibration_curves.extend(before);
    let calibration = CurveChart {
        title: "Calibration (reliability diagram)".into(),
        x_label: "mean predicted probability".into(),
        y_label: "share actually replayed".into(),
        curves: calibration_curves,
        reference: Some(("perfect calibration".into(), diagonal)),
        markers: true,
        legend_lower_right: true,
    };
    plots::save(&calibration, dir, "calibration")?;
    push(
        "calibration".into(),
        match any_calibrated {
            true => format!(
                "Calibration of all models ({bins} equal-width bins); dashed: calibrated models before their map"
            ),
            false => format!("Calibration of all models ({bins} equal-width bins)"),
        },
    );

    for (name, m) in &ranked {
        let stem = format!("confusion_{name}");
        let title = format!("{name}: confusion matrix at {:.2}", m.threshold);
        plots::save(
            &ConfusionChart {
                title,
                matrix: m.confusion_matrix,
            },
            dir,
            &stem,
        )?;
        push(
            stem,
            format!("{name}: confusion matrix at threshold {}", m.threshold),
        );
        if let Some(p) = probabilities(name) {
            let (negative, positive) = curves::probability_histogram(y, p, 20);
            let stem = format!("histogram_{name}");
            let title = format!("{name}: predicted probabilities by true class");
            plots::save(
                &HistogramChart {
                    title,
                    negative,
                    positive,
                },
                dir,
                &stem,
            )?;
            push(
                stem,
                format!("{name}: distribution of predicted probabilities per true class"),
            );
        }
        if let Some((_, importances)) = input.importances.iter().find(|(n, _)| n == name) {
            let stem = format!("importance_{name}");
            let title = format!("{name}: feature importances");
            plots::save(
                &ImportanceChart {
                    title,
                    importances: importances.clone(),
                    x_label: "share of total importance".into(),
                },
                dir,
                &stem,
            )?;
            push(stem, format!("{name}: feature importances"));
        }
    }
    Ok(charts)
}

/// Inputs of the beeswarm chart.
const BEESWARM_INPUTS: usize = 12;
/// Inputs of the mean |contribution| charts.
const MEAN_INPUTS: usize = 15;
/// Dependence plots of the best model's top inputs.
const DEPENDENCE_INPUTS: usize = 4;
/// Contributions listed in a waterfall before "the other inputs".
const WATERFALL_STEPS: usize = 8;

/// The explanation section's charts: every model's mean |contribution| per input; for the
/// best model (the first), a beeswarm summary, dependence plots of its top inputs and a
/// waterfall of each of its highest- and lowest-scored songs.
fn explanation_charts(explanations: &[ModelExplanation], dir: &Path) -> Result<Vec<ChartRef>, PlotError> {
    let mut charts = Vec::new();
    let mut push = |stem: String, caption: String| {
        charts.push(ChartRef {
            stem,
            caption,
            explanation: true,
        })
    };
    for e in explanations {
        let name = &e.model;
        let stem = format!("contributions_{name}");
        plots::save(
            &ImportanceChart {
                title: format!("{name}: mean |contribution|"),
                importances: e.mean_abs().into_iter().take(MEAN_INPUTS).collect(),
                x_label: format!("mean |contribution| ({}) over {} test songs", e.space, e.sampled),
            },
            dir,
            &stem,
        )?;
        push(
            stem,
            format!(
                "{name}: mean |contribution| of each input ({}) over {} test songs",
                e.space, e.sampled
            ),
        );
    }
    if let Some(e) = explanations.first() {
        let name = &e.model;
        let means = e.mean_abs();
        let column = |j: usize, rows: std::ops::Range<usize>| -> Vec<(f64, f64)> {
            rows.map(|r| (e.values[r][j], e.contributions[r][j])).collect()
        };
        let index = |input: &str| e.inputs.iter().position(|i| i == input);
        let top: Vec<usize> = means.iter().filter_map(|(input, _)| index(input)).collect();
        let rows = top
            .iter()
            .take(BEESWARM_INPUTS)
            .map(|&j| {
                let points = column(j, 0..e.sampled);
                let values: Vec<f64> = points.iter().map(|p| p.0).collect();
                let positions = explain_charts::rank_positions(&values);
                let dots = points.iter().zip(positions).map(|(p, pos)| (p.1, pos)).collect();
                (e.inputs[j].clone(), dots)
            })
            .collect();
        let stem = format!("beeswarm_{name}");
        plots::save(
            &BeeswarmChart {
                title: format!("{name}: contributions per song"),
                x_label: format!("contribution ({})", e.space),
                rows,
            },
            dir,
            &stem,
        )?;
        push(
            stem,
            format!(
                "{name}: each test song's contribution of its top inputs ({} songs; colour: the song's value of the input)",
                e.sampled
            ),
        );
        for (k, &j) in top.iter().take(DEPENDENCE_INPUTS).enumerate() {
            let input = &e.inputs[j];
            let stem = format!("dependence_{name}_{}", k + 1);
            let points = column(j, 0..e.sampled)
                .into_iter()
                .filter(|p| !p.0.is_nan())
                .collect();
            plots::save(
                &DependenceChart {
                    title: format!("{name}: {input}"),
                    input: input.clone(),
                    y_label: format!("contribution ({})", e.space),
                    points,
                },
                dir,
                &stem,
            )?;
            push(stem, format!("{name}: contribution of {input} against its value"));
        }
        let extremes = e.sampled..e.ids.len();
        let half = extremes.len() / 2;
        for (k, r) in extremes.enumerate() {
            let (kind, place) = if k < half {
                ("high", k + 1)
            } else {
                ("low", k - half + 1)
            };
            let stem = format!("waterfall_{name}_{kind}_{place}");
            let chart = waterfall(e, r);
            plots::save(&chart, dir, &stem)?;
            let which = if kind == "high" { "highest" } else { "lowest" };
            push(
                stem,
                format!(
                    "{name}: why song {} (probability {:.3}, #{place} {which}) scores as it does (inputs as the model reads them)",
                    e.ids[r], e.probabilities[r]
                ),
            );
        }
    }
    Ok(charts)
}

/// The waterfall of explained song `r`: its largest contributions, then the rest summed.
fn waterfall(e: &ModelExplanation, r: usize) -> WaterfallChart {
    let c = &e.contributions[r];
    let mut order: Vec<usize> = (0..c.len()).collect();
    order.sort_by(|&a, &b| c[b].abs().total_cmp(&c[a].abs()).then(a.cmp(&b)));
    let shown = WATERFALL_STEPS.min(order.len());
    let mut steps: Vec<(String, f64)> = order[..shown]
        .iter()
        .map(|&j| (format!("{} = {}", e.inputs[j], short(e.values[r][j])), c[j]))
        .collect();
    let rest = &order[shown..];
    if !rest.is_empty() {
        steps.push((
            format!("{} other inputs", rest.len()),
            rest.iter().map(|&j| c[j]).sum(),
        ));
    }
    WaterfallChart {
        title: format!("{}: song {} (p = {:.3})", e.model, e.ids[r], e.probabilities[r]),
        x_label: format!("output ({})", e.space),
        expected: e.expected,
        steps,
    }
}

/// A value as a label shows it: up to 4 significant digits.
fn short(v: f64) -> String {
    if v.is_nan() {
        "missing".into()
    } else if v == v.round() && v.abs() < 1e9 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}").trim_end_matches('0').to_string()
    }
}

/// HTML-escape text.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn interval(ci: Option<[f64; 2]>) -> String {
    ci.map(|[lo, hi]| format!(" [{lo:.3}, {hi:.3}]"))
        .unwrap_or_default()
}

/// A calibrated model's figure with the one before its map: `0.0124 (0.0139 before isotonic)`.
fn with_before(value: f64, before: Option<(CalibrationMethod, f64)>) -> String {
    match before {
        Some((method, b)) => format!("{value:.4} ({b:.4} before {})", method.name()),
        None => format!("{value:.4}"),
    }
}

/// The ECE cell: for a calibrated model, also the ECE before, the interval of the change
/// and the ECE of perfectly calibrated probabilities on these rows (see [`ECE_NOTE`]).
fn ece_cell(m: &ModelMetrics) -> String {
    match &m.calibration {
        Some(c) => {
            let change = c
                .ece_change_interval
                .map_or(String::new(), |[lo, hi]| format!(", Δ [{lo:+.4}, {hi:+.4}]"));
            let noise = c.ece_noise.map_or(String::new(), |n| format!(", noise {n:.4}"));
            format!(
                "{:.4} ({:.4} before {}{change}{noise})",
                m.ece,
                c.before.ece,
                c.method.name()
            )
        }
        None => format!("{:.4}", m.ece),
    }
}

/// Below the model table when a model is calibrated: what its ECE cell says.
const ECE_NOTE: &str = "ECE of a calibrated model: Δ is the 95% bootstrap interval of the \
change calibration made, noise the mean ECE that perfectly calibrated probabilities like \
these show on these test rows by chance alone; a change whose interval holds 0 cannot be \
told from chance, nor can ECEs near the noise.";

/// Whether any model of `metrics` is calibrated.
fn any_calibrated(metrics: &MetricsReport) -> bool {
    metrics.models.values().any(|m| m.calibration.is_some())
}

/// Rows of the model comparison table, best ROC-AUC first: cells as text.
fn comparison_rows(metrics: &MetricsReport) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let header = vec![
        "model",
        "ROC-AUC [95% CI]",
        "PR-AUC",
        "threshold",
        "accuracy [95% CI]",
        "balanced acc.",
        "precision",
        "recall",
        "F1",
        "log loss",
        "Brier",
        "ECE",
        "at target recall",
    ];
    let rows = metrics
        .ranked()
        .into_iter()
        .map(|(name, m)| {
            let ci = m.confidence_intervals.as_ref();
            let t = &m.at_target_recall;
            vec![
                name.to_string(),
                format!("{:.4}{}", m.roc_auc, interval(ci.map(|c| c.roc_auc))),
                format!("{:.4}", m.pr_auc),
                match m.threshold_rule {
                    Some(rule) => format!("{:.3} ({} out of fold)", m.threshold, rule.describe()),
                    None => format!("{}", m.threshold),
                },
                format!("{:.4}{}", m.accuracy, interval(ci.map(|c| c.accuracy))),
                format!("{:.4}", m.balanced_accuracy),
                format!("{:.4}", m.precision),
                format!("{:.4}", m.recall),
                format!("{:.4}", m.f1),
                with_before(
                    m.log_loss,
                    m.calibration.as_ref().map(|c| (c.method, c.before.log_loss)),
                ),
                with_before(
                    m.brier,
                    m.calibration.as_ref().map(|c| (c.method, c.before.brier)),
                ),
                ece_cell(m),
                format!(
                    "threshold {:.3}: recall {:.3}, precision {:.3}",
                    t.threshold, t.replayed.recall, t.replayed.precision
                ),
            ]
        })
        .collect();
    (header, rows)
}

fn dataset_rows(d: &DatasetSummary) -> Vec<(&'static str, String)> {
    let reasons = if d.rejected_by_reason.is_empty() {
        String::new()
    } else {
        let parts: Vec<String> = d
            .rejected_by_reason
            .iter()
            .map(|(r, n)| format!("{r}: {n}"))
            .collect();
        format!(" ({})", parts.join(", "))
    };
    vec![
        ("source", d.source.clone()),
        ("rows read", d.rows_read.to_string()),
        ("rows rejected", format!("{}{reasons}", d.rows_rejected)),
        ("song id", d.id_rule.clone()),
        ("repeated ids dropped", d.duplicate_ids_dropped.to_string()),
        ("train / test rows", format!("{} / {}", d.train_rows, d.test_rows)),
        ("label", d.label_rule.clone()),
        ("replayed share", format!("{:.1}%", 100.0 * d.positive_rate)),
        (
            "features",
            format!("{} ({})", d.features.len(), d.features.join(", ")),
        ),
    ]
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'DejaVu Sans',sans-serif;margin:2rem auto;max-width:1250px;color:#222;padding:0 1rem}\
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:2px solid #1f77b4;padding-bottom:.2rem}\
table{border-collapse:collapse;margin:.8rem 0;font-size:.92rem}th,td{border:1px solid #ddd;padding:.35rem .6rem;text-align:left}\
th{background:#f0f4f8}tr:first-child td{font-weight:600}.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:1rem}\
figure{margin:0;background:#fff;border:1px solid #e4e4e4;border-radius:6px;padding:.5rem}figure img{width:100%;height:auto}\
figcaption{font-size:.85rem;color:#555;text-align:center}pre{background:#f6f8fa;padding:1rem;overflow:auto;font-size:.85rem}\
.lead{color:#555}.note{color:#555;font-size:.85rem}code{background:#f6f8fa;padding:0 .25rem}";

fn html(input: &ReportInput<'_>, charts: &[ChartRef], plots_dir: &Path) -> Result<String, PlotError> {
    let mut h = String::new();
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head><body>\n<h1>{t}</h1>",
        t = escape(input.page.title)
    );
    if let Some((best, m)) = input.metrics.ranked().first() {
        let _ = writeln!(
            h,
            "<p class=\"lead\">Best model: <b>{}</b> with ROC-AUC {:.3}{} on {} held-out tracks ({:.1}% replayed).</p>",
            escape(best),
            m.roc_auc,
            interval(m.confidence_intervals.as_ref().map(|c| c.roc_auc)),
            input.metrics.test_set.rows,
            100.0 * input.metrics.test_set.positive_rate
        );
    }
    h.push_str("<h2>Models</h2>\n<table><tr>");
    let (header, rows) = comparison_rows(input.metrics);
    for cell in header {
        let _ = write!(h, "<th>{}</th>", escape(cell));
    }
    h.push_str("</tr>\n");
    for row in rows {
        h.push_str("<tr>");
        for cell in row {
            let _ = write!(h, "<td>{}</td>", escape(&cell));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
    if any_calibrated(input.metrics) {
        let _ = writeln!(h, "<p class=\"note\">{}</p>", escape(ECE_NOTE));
    }
    h.push_str("<h2>Charts</h2>\n");
    figures(&mut h, charts.iter().filter(|c| !c.explanation), plots_dir)?;
    if let Some(best) = input.explanations.first() {
        let top: Vec<String> = best
            .mean_abs()
            .iter()
            .take(5)
            .map(|(name, v)| format!("{} ({v:.3})", escape(name)))
            .collect();
        let _ = writeln!(
            h,
            "<h2>Why: contributions</h2>\n<p class=\"lead\">Exact SHAP values (path-dependent TreeSHAP; \
             coefficient × distance from the training mean for logistic regression) of up to {} test \
             songs spread evenly over the test rows (models with many tree nodes explain fewer, as \
             their charts say), in each model's output space. Each song's contributions \
             add up, with the model's expected output, to its output. Top inputs of <b>{}</b> by mean \
             |contribution| ({}): {}.</p>",
            input.page.explain_songs,
            escape(&best.model),
            escape(&best.space),
            top.join(", ")
        );
        figures(&mut h, charts.iter().filter(|c| c.explanation), plots_dir)?;
    }
    h.push_str("<h2>Data</h2>\n<table>\n");
    for (key, value) in dataset_rows(input.page.dataset) {
        let _ = writeln!(h, "<tr><th>{}</th><td>{}</td></tr>", escape(key), escape(&value));
    }
    h.push_str("</table>\n<h2>Run</h2>\n<table><tr><th>stage</th><th>cache key</th></tr>\n");
    for (stage, key) in input.page.cache_keys {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td><code>{}</code></td></tr>",
            escape(stage),
            escape(key)
        );
    }
    let _ = writeln!(
        h,
        "</table>\n<h2>Configuration</h2>\n<pre>{}</pre>\n</body></html>",
        escape(input.page.config)
    );
    Ok(h)
}

/// A grid of `charts`, each PNG inlined.
fn figures<'c>(
    h: &mut String,
    charts: impl Iterator<Item = &'c ChartRef>,
    plots_dir: &Path,
) -> Result<(), PlotError> {
    h.push_str("<div class=\"grid\">\n");
    for chart in charts {
        let path = plots_dir.join(format!("{}.png", chart.stem));
        let bytes = std::fs::read(&path).map_err(|e| PlotError {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let data = base64::engine::general_purpose::STANDARD.encode(bytes);
        let _ = writeln!(
            h,
            "<figure><img alt=\"{c}\" src=\"data:image/png;base64,{data}\"><figcaption>{c}</figcaption></figure>",
            c = escape(&chart.caption)
        );
    }
    h.push_str("</div>\n");
    Ok(())
}

fn markdown(input: &ReportInput<'_>, charts: &[ChartRef]) -> String {
    let mut md = format!("# {}\n\n## Models\n\n", input.page.title);
    let (header, rows) = comparison_rows(input.metrics);
    let _ = writeln!(md, "| {} |", header.join(" | "));
    let _ = writeln!(md, "|{}", " --- |".repeat(header.len()));
    for row in rows {
        let _ = writeln!(md, "| {} |", row.join(" | "));
    }
    if any_calibrated(input.metrics) {
        let _ = write!(md, "\n{ECE_NOTE}\n");
    }
    md.push_str("\n## Data\n\n| | |\n| --- | --- |\n");
    for (key, value) in dataset_rows(input.page.dataset) {
        let _ = writeln!(md, "| {key} | {value} |");
    }
    let list = |md: &mut String, explanation: bool| {
        for chart in charts.iter().filter(|c| c.explanation == explanation) {
            let _ = writeln!(
                md,
                "- [{}]({PLOTS_DIR}/{}.png) ([svg]({PLOTS_DIR}/{}.svg))",
                chart.caption, chart.stem, chart.stem
            );
        }
    };
    md.push_str("\n## Charts\n\n");
    list(&mut md, false);
    if let Some(best) = input.explanations.first() {
        let _ = writeln!(
            md,
            "\n## Why: contributions\n\nExact SHAP values on {} test songs ({} for {}). Top inputs by mean |contribution|:\n",
            best.sampled, best.space, best.model
        );
        for (name, v) in best.mean_abs().iter().take(5) {
            let _ = writeln!(md, "- {name}: {v:.4}");
        }
        md.push('\n');
        list(&mut md, true);
    }
    md.push_str("\n## Run\n\n| stage | cache key |\n| --- | --- |\n");
    for (stage, key) in input.page.cache_keys {
        let _ = writeln!(md, "| {stage} | `{key}` |");
    }
    let _ = write!(
        md,
        "\n## Configuration\n\n```toml\n{}\n```\n",
        input.page.config.trim_end()
    );
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waterfall_lists_the_largest_contributions_then_the_rest_and_ends_at_the_output() {
        let contributions = vec![0.5, -2.0, 0.01, 0.3, -0.02, 0.04, 0.2, 0.1, -0.7, 0.05, 0.03];
        let e = ModelExplanation {
            model: "m".into(),
            space: "log-odds".into(),
            expected: -0.25,
            inputs: (0..11).map(|j| format!("x{j}")).collect(),
            ids: vec!["a".into()],
            probabilities: vec![0.4],
            sampled: 0,
            values: vec![vec![
                f64::NAN,
                2.0,
                0.125,
                1.0,
                0.0,
                3.5,
                -1.0,
                7.0,
                0.333_333,
                1e6,
                2.5,
            ]],
            contributions: vec![contributions.clone()],
        };
        let chart = waterfall(&e, 0);
        let labels: Vec<&str> = chart.steps.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(
            labels,
            [
                "x1 = 2",
                "x8 = 0.3333",
                "x0 = missing",
                "x3 = 1",
                "x6 = -1",
                "x7 = 7",
                "x9 = 1000000",
                "x5 = 3.5",
                "3 other inputs"
            ]
        );
        assert!((chart.steps[8].1 - (0.01 - 0.02 + 0.03)).abs() < 1e-15);
        let end = chart.expected + chart.steps.iter().map(|s| s.1).sum::<f64>();
        let output = e.expected + contributions.iter().sum::<f64>();
        assert!((end - output).abs() < 1e-12);
        // No sampled songs: the means are zero, never NaN.
        assert!(e.mean_abs().iter().all(|(_, v)| *v == 0.0));
    }
    use crate::plots::Chart;
    use crate::{EvalConfig, MetricsReport};
    use plotters::prelude::*;

    /// Labels and two models' probabilities: one with distinct scores, one with ties.
    fn data(n: usize) -> (Vec<bool>, Vec<(String, Vec<f64>)>) {
        let y: Vec<bool> = (0..n).map(|i| (i * 7919) % 10 < 3).collect();
        let smooth = (0..n)
            .map(|i| {
                let noise = ((i * 104_729) % n) as f64 / n as f64;
                (0.6 * noise + if y[i] { 0.35 } else { 0.05 }).min(1.0)
            })
            .collect();
        let tied = (0..n)
            .map(|i| (((i * 31) % 17) as f64 / 16.0 + if y[i] { 0.3 } else { 0.0 }).min(1.0))
            .collect();
        (y, vec![("smooth".into(), smooth), ("tied".into(), tied)])
    }

    /// The RGB pixels of `chart` at the report's size.
    fn pixels(chart: &CurveChart) -> Vec<u8> {
        plots::register_embedded_font();
        let (w, h) = (900u32, 620u32);
        let mut buffer = vec![0u8; (w * h * 3) as usize];
        {
            let area = BitMapBackend::with_buffer(&mut buffer, (w, h)).into_drawing_area();
            chart.draw(&area).unwrap();
            area.present().unwrap();
        }
        buffer
    }

    #[test]
    fn thinned_curves_draw_the_same_pixels_as_every_vertex() {
        let (y, predictions) = data(60_000);
        let chart = |thinned: bool| {
            let curves = predictions
                .iter()
                .map(|(name, p)| {
                    let ranking = Ranking::new(&y, p).unwrap();
                    let points: Vec<_> = curves::precision_recall_curve(&ranking).collect();
                    Curve {
                        label: name.clone(),
                        points: if thinned {
                            curves::thin(points, CURVE_STEP)
                        } else {
                            points
                        },
                        dashed_like: None,
                    }
                })
                .collect();
            CurveChart {
                title: String::new(),
                x_label: String::new(),
                y_label: String::new(),
                curves,
                reference: None,
                markers: false,
                legend_lower_right: false,
            }
        };
        let (full, thin) = (chart(false), chart(true));
        assert!(full.curves[0].points.len() > 40_000);
        assert!(
            thin.curves[0].points.len() < 8_000,
            "{}",
            thin.curves[0].points.len()
        );
        let (a, b) = (pixels(&full), pixels(&thin));
        let differing = a.chunks(3).zip(b.chunks(3)).filter(|(p, q)| p != q).count();
        let inked = a.chunks(3).filter(|p| p != &[255, 255, 255]).count();
        assert!(
            differing * 200 < inked,
            "{differing} of {inked} inked pixels differ"
        );
    }

    #[test]
    fn the_report_of_many_rows_has_small_charts() {
        let (y, predictions) = data(150_000);
        let config = EvalConfig {
            bootstrap_samples: 0,
            ..Default::default()
        };
        let metrics = MetricsReport::compute(
            &y,
            predictions.iter().map(|(n, p)| (n.as_str(), p.as_slice())),
            &config,
        )
        .unwrap();
        let dataset = DatasetSummary::default();
        let page = ReportPage {
            title: "t",
            dataset: &dataset,
            calibration_bins: 10,
            explain_songs: 0,
            config: "",
            cache_keys: &[],
        };
        let input = ReportInput {
            page: &page,
            metrics: &metrics,
            labels: &y,
            predictions: &predictions,
            importances: &[],
            explanations: &[],
        };
        let dir = tempfile::tempdir().unwrap();
        let charts = write_report(&input, dir.path()).unwrap();
        assert_eq!(charts.len(), 3 + 2 * 2);
        for chart in &charts {
            let svg = dir.path().join(PLOTS_DIR).join(format!("{}.svg", chart.stem));
            let size = std::fs::metadata(&svg).unwrap().len();
            assert!(size < 300_000, "{}: {size} bytes", chart.stem);
        }
        let html = std::fs::read_to_string(dir.path().join(HTML_FILE)).unwrap();
        assert!(html.contains("data:image/png;base64,"));
    }
}
