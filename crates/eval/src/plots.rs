//! Charts of the evaluation, each drawn with plotters as PNG and as SVG.
//!
//! The PNG renderer uses DejaVu Sans embedded in the binary (`assets/`), so charts have
//! readable text on any machine, with no system fonts installed.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};

use crate::curves::CalibrationBin;

/// A chart could not be drawn or written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PlotError {
    /// The file being written.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// Chart size in pixels.
const SIZE: (u32, u32) = (900, 620);
pub(crate) const FONT: &str = "sans-serif";
/// Colours of successive models (the "tab10" palette).
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// The colour of the `i`-th model.
pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Register DejaVu Sans (embedded) as the charts' font, once.
pub(crate) fn register_embedded_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/DejaVuSans.ttf");
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The font is embedded at compile time and known to parse (tested).
            let _ = register_font(FONT, style, bytes);
        }
    });
}

/// Something that can draw itself on any plotters backend.
pub trait Chart {
    /// Draw on `area`.
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Write `chart` as `<dir>/<stem>.png` and `<dir>/<stem>.svg`, each atomically.
pub fn save(chart: &impl Chart, dir: &Path, stem: &str) -> Result<(), PlotError> {
    register_embedded_font();
    std::fs::create_dir_all(dir).map_err(|e| PlotError {
        path: dir.into(),
        message: e.to_string(),
    })?;
    let png = dir.join(format!("{stem}.png"));
    // The bitmap encoder picks the format by extension, so the temporary name ends in .png.
    let tmp = dir.join(format!(".{stem}.tmp-{}.png", std::process::id()));
    let drawn = (|| {
        let area = BitMapBackend::new(&tmp, SIZE).into_drawing_area();
        chart.draw(&area)?;
        area.present().map_err(|e| e.to_string())
    })();
    drawn
        .and_then(|()| std::fs::rename(&tmp, &png).map_err(|e| e.to_string()))
        .map_err(|message| {
            let _ = std::fs::remove_file(&tmp);
            PlotError {
                path: png.clone(),
                message,
            }
        })?;
    let svg_path = dir.join(format!("{stem}.svg"));
    let mut svg = String::new();
    {
        let area = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let drawn = chart.draw(&area).and_then(|()| area.present().map_err(err));
        drawn.map_err(|message| PlotError {
            path: svg_path.clone(),
            message,
        })?;
    }
    Ok(replay_core::atomic::write_bytes(&svg_path, svg.as_bytes())?)
}

impl From<replay_core::ArtifactError> for PlotError {
    fn from(e: replay_core::ArtifactError) -> Self {
        let path = e.path().to_path_buf();
        // The error's text leads with the path, which PlotError shows itself.
        let text = e.to_string();
        let prefix = format!("{}: ", path.display());
        let message = text.strip_prefix(&prefix).unwrap_or(&text).to_string();
        PlotError { path, message }
    }
}

pub(crate) fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

pub(crate) fn caption_style() -> (&'static str, u32, FontStyle) {
    (FONT, 26, FontStyle::Bold)
}

/// A model's curve: its name and points.
#[derive(Debug, Clone)]
pub struct Curve {
    /// Model name, with a summary figure for the legend.
    pub label: String,
    /// Points of the curve.
    pub points: Vec<(f64, f64)>,
    /// Draw it thin and dashed in the colour of the chart's curve of this index (the
    /// same model before calibration); `None`: solid, in its own colour.
    pub dashed_like: Option<usize>,
}

/// A line chart of one curve per model over the unit square.
#[derive(Debug, Clone)]
pub struct CurveChart {
    /// Chart title.
    pub title: String,
    /// Horizontal axis label.
    pub x_label: String,
    /// Vertical axis label.
    pub y_label: String,
    /// One curve per model.
    pub curves: Vec<Curve>,
    /// A dashed reference line (for example the diagonal of a random ranking).
    pub reference: Option<(String, Vec<(f64, f64)>)>,
    /// Draw the points as markers too (sparse curves such as calibration).
    pub markers: bool,
    /// Where the legend goes.
    pub legend_lower_right: bool,
}

impl Chart for CurveChart {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        area.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, caption_style())
            .margin(18)
            .x_label_area_size(55)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..1f64, 0f64..1.02f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .axis_desc_style((FONT, 20))
            .label_style((FONT, 16))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        if let Some((label, points)) = &self.reference {
            let style = RGBColor(120, 120, 120).stroke_width(1);
            chart
                .draw_series(DashedLineSeries::new(points.clone(), 6, 4, style))
                .map_err(err)?
                .label(label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        }
        for (i, curve) in self.curves.iter().enumerate() {
            if let Some(like) = curve.dashed_like {
                let style = color(like).stroke_width(2);
                chart
                    .draw_series(DashedLineSeries::new(curve.points.clone(), 8, 5, style))
                    .map_err(err)?
                    .label(curve.label.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 10, y)], style));
                continue;
            }
            let style = color(i).stroke_width(3);
            chart
                .draw_series(LineSeries::new(curve.points.clone(), style))
                .map_err(err)?
                .label(curve.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
            if self.markers {
                let fill = color(i).filled();
                chart
                    .draw_series(curve.points.iter().map(|&p| Circle::new(p, 4, fill)))
                    .map_err(err)?;
            }
        }
        chart
            .configure_series_labels()
            .position(if self.legend_lower_right {
                SeriesLabelPosition::LowerRight
            } else {
                SeriesLabelPosition::UpperRight
            })
            .label_font((FONT, 17))
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(180, 180, 180))
            .draw()
            .map_err(err)
    }
}

/// Calibration points of a model: `(mean probability, share replayed)` of non-empty bins.
pub fn calibration_points(bins: &[CalibrationBin]) -> Vec<(f64, f64)> {
    bins.iter()
        .filter(|b| b.count > 0)
        .map(|b| (b.mean_probability, b.fraction_positive))
        .collect()
}

/// A 2 x 2 confusion-matrix heatmap with counts and row percentages.
#[derive(Debug, Clone)]
pub struct ConfusionChart {
    /// Chart title.
    pub title: String,
    /// `[[tn, fp], [fn, tp]]`.
    pub matrix: [[u64; 2]; 2],
}

const CLASSES: [&str; 2] = ["not replayed", "replayed"];

impl Chart for ConfusionChart {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        area.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, caption_style())
            .margin(24)
            .x_label_area_size(70)
            .y_label_area_size(140)
            .build_cartesian_2d(0f64..2f64, 0f64..2f64)
            .map_err(err)?;
        let class_of = |v: &f64| match (v * 2.0).round() as i64 {
            1 => CLASSES[0].to_string(),
            3 => CLASSES[1].to_string(),
            _ => String::new(),
        };
        // Rows are the true class (not replayed on top), columns the prediction.
        let row_label = |v: &f64| match (v * 2.0).round() as i64 {
            3 => CLASSES[0].to_string(),
            1 => CLASSES[1].to_string(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(5)
            .y_labels(5)
            .x_label_formatter(&class_of)
            .y_label_formatter(&row_label)
            .x_desc("predicted")
            .y_desc("true")
            .axis_desc_style((FONT, 20))
            .label_style((FONT, 19))
            .draw()
            .map_err(err)?;
        for (r, row) in self.matrix.iter().enumerate() {
            let total = row.iter().sum::<u64>().max(1) as f64;
            for (c, &count) in row.iter().enumerate() {
                let share = count as f64 / total;
                let (x, y) = (c as f64, 1.0 - r as f64);
                let shade = |full: u8| (255.0 - share * (255.0 - f64::from(full))) as u8;
                let fill = RGBColor(shade(31), shade(119), shade(180));
                chart
                    .draw_series([Rectangle::new([(x, y), (x + 1.0, y + 1.0)], fill.filled())])
                    .map_err(err)?;
                let ink = if share > 0.55 { WHITE } else { BLACK };
                let big = TextStyle::from((FONT, 34).into_font())
                    .color(&ink)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                let small = TextStyle::from((FONT, 20).into_font())
                    .color(&ink)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                chart
                    .draw_series([
                        Text::new(count.to_string(), (x + 0.5, y + 0.56), big),
                        Text::new(
                            format!("{:.1}% of row", 100.0 * share),
                            (x + 0.5, y + 0.38),
                            small,
                        ),
                    ])
                    .map_err(err)?;
            }
        }
        Ok(())
    }
}

/// Horizontal bars of feature importances, largest on top.
#[derive(Debug, Clone)]
pub struct ImportanceChart {
    /// Chart title.
    pub title: String,
    /// `(feature, importance)`, in any order.
    pub importances: Vec<(String, f64)>,
    /// Horizontal axis label.
    pub x_label: String,
}

impl Chart for ImportanceChart {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        area.fill(&WHITE).map_err(err)?;
        let mut bars = self.importances.clone();
        bars.sort_by(|a, b| a.1.total_cmp(&b.1));
        let n = bars.len().max(1);
        let max = bars.iter().map(|b| b.1).fold(0.0f64, f64::max).max(1e-9) * 1.1;
        let raw: Vec<&str> = bars.iter().map(|b| b.0.as_str()).collect();
        let (label_area, names) = row_labels(area, &raw);
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, caption_style())
            .margin(18)
            .x_label_area_size(50)
            .y_label_area_size(label_area)
            .build_cartesian_2d(0f64..max, 0f64..n as f64)
            .map_err(err)?;
        configure_rows(&mut chart, &names, &self.x_label)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
                Rectangle::new([(0.0, i as f64 + 0.15), (*v, i as f64 + 0.85)], color(0).filled())
            }))
            .map_err(err)?;
        Ok(())
    }
}

/// The width of the label area of a chart whose rows are named on the vertical axis, and
/// the names to draw, fitted by [`fit_labels`] to at most 45% of the chart's width.
pub(crate) fn row_labels<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    names: &[&str],
) -> (u32, Vec<String>) {
    let font = TextStyle::from((FONT, LABEL_PX).into_font());
    let measure = |text: &str| {
        area.estimate_text_size(text, &font)
            .map_or(text.chars().count() as u32 * LABEL_PX, |(w, _)| w)
    };
    fit_labels(names, measure, area.dim_in_pixel().0 * 45 / 100)
}

/// The mesh of a chart whose rows are named on the vertical axis (row `i` at `i + 0.5`).
pub(crate) fn configure_rows<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    names: &[String],
    x_label: &str,
) -> Result<(), String> {
    let name_at = |v: &f64| {
        let k = v - 0.5;
        if (k - k.round()).abs() < 1e-6 && k >= 0.0 {
            names.get(k.round() as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(2 * names.len().max(1) + 1)
        .y_label_formatter(&name_at)
        .x_desc(x_label)
        .axis_desc_style((FONT, 20))
        .label_style((FONT, LABEL_PX))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)
}

/// Pixel size of axis labels.
pub(crate) const LABEL_PX: u32 = 16;

/// The width of a label area that shows every one of `names` whole, measured by
/// `measure` (pixels), and the names to draw: those wider than `max` pixels are shortened
/// in the middle ("track_alb…target_mean"), keeping both ends, so every label fits.
pub(crate) fn fit_labels(names: &[&str], measure: impl Fn(&str) -> u32, max: u32) -> (u32, Vec<String>) {
    const PADDING: u32 = 14;
    let room = max.saturating_sub(PADDING);
    let fitted: Vec<String> = names
        .iter()
        .map(|name| {
            let chars: Vec<char> = name.chars().collect();
            let mut keep = chars.len();
            let mut text = name.to_string();
            while keep > 2 && measure(&text) > room {
                keep -= 1;
                let (head, tail) = (keep.div_ceil(2), keep / 2);
                let ends: String = chars[..head].iter().collect();
                let last: String = chars[chars.len() - tail..].iter().collect();
                text = format!("{ends}…{last}");
            }
            text
        })
        .collect();
    let widest = fitted.iter().map(|t| measure(t)).max().unwrap_or(0);
    ((widest + PADDING).min(max.max(PADDING)), fitted)
}

/// Histograms of predicted probabilities of the two true classes, as shares of each class.
#[derive(Debug, Clone)]
pub struct HistogramChart {
    /// Chart title.
    pub title: String,
    /// Counts per equal-width bin of tracks not replayed.
    pub negative: Vec<u64>,
    /// Counts per bin of replayed tracks.
    pub positive: Vec<u64>,
}

impl Chart for HistogramChart {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        area.fill(&WHITE).map_err(err)?;
        let shares = |counts: &[u64]| {
            let total = counts.iter().sum::<u64>().max(1) as f64;
            counts.iter().map(|&c| c as f64 / total).collect::<Vec<_>>()
        };
        let (neg, pos) = (shares(&self.negative), shares(&self.positive));
        let top = neg.iter().chain(&pos).fold(0.0f64, |a, &b| a.max(b)).max(1e-9) * 1.15;
        let bins = neg.len().max(1) as f64;
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, caption_style())
            .margin(18)
            .x_label_area_size(55)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..1f64, 0f64..top)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("predicted probability of replay")
            .y_desc("share of the class")
            .axis_desc_style((FONT, 20))
            .label_style((FONT, 16))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        for (k, (values, label)) in [(&neg, "not replayed"), (&pos, "replayed")]
            .into_iter()
            .enumerate()
        {
            let c = color(k);
            chart
                .draw_series(values.iter().enumerate().map(|(i, &v)| {
                    let x = i as f64 / bins;
                    Rectangle::new([(x, 0.0), (x + 1.0 / bins, v)], c.mix(0.45).filled())
                }))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], c.mix(0.45).filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 17))
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(180, 180, 180))
            .draw()
            .map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_font_parses() {
        let bytes: &'static [u8] = include_bytes!("../assets/DejaVuSans.ttf");
        assert!(register_font("test-font", FontStyle::Normal, bytes).is_ok());
    }

    #[test]
    fn every_chart_writes_a_png_and_an_svg() {
        let dir = tempfile::tempdir().unwrap();
        let curve = Curve {
            label: "m".into(),
            points: vec![(0.0, 0.0), (0.3, 0.7), (1.0, 1.0)],
            dashed_like: None,
        };
        let chart = CurveChart {
            title: "ROC".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            curves: vec![curve],
            reference: Some(("random".into(), vec![(0.0, 0.0), (1.0, 1.0)])),
            markers: true,
            legend_lower_right: true,
        };
        save(&chart, dir.path(), "roc").unwrap();
        save(
            &ConfusionChart {
                title: "cm".into(),
                matrix: [[5, 2], [1, 7]],
            },
            dir.path(),
            "cm",
        )
        .unwrap();
        let long = "track_album_id_target_mean";
        let importances = vec![("a".into(), 0.7), (long.into(), 0.3)];
        save(
            &ImportanceChart {
                title: "imp".into(),
                importances,
                x_label: "share".into(),
            },
            dir.path(),
            "imp",
        )
        .unwrap();
        let histogram = HistogramChart {
            title: "h".into(),
            negative: vec![3, 1],
            positive: vec![1, 4],
        };
        save(&histogram, dir.path(), "hist").unwrap();
        for stem in ["roc", "cm", "imp", "hist"] {
            let png = std::fs::read(dir.path().join(format!("{stem}.png"))).unwrap();
            assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{stem}.png is a PNG");
            let svg = std::fs::read_to_string(dir.path().join(format!("{stem}.svg"))).unwrap();
            assert!(svg.starts_with("<svg") && svg.contains("</svg>"), "{stem}.svg");
        }
        let svg = std::fs::read_to_string(dir.path().join("imp.svg")).unwrap();
        // Drawn whole and right-aligned at x, it starts inside the image: at 0.6 em a
        // character (wider than the font's average), it needs x >= 0.6 · size · chars.
        let at = svg
            .find(&format!("\n{long}\n</text>"))
            .expect("the long name, whole");
        let element = &svg[svg[..at].rfind("<text").unwrap()..at];
        let attribute = |name: &str| -> f64 {
            let from = element.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
            element[from..].split('"').next().unwrap().parse().unwrap()
        };
        let needed = 0.6 * attribute("font-size") * long.len() as f64;
        assert!(attribute("x") >= needed, "x {} < {needed}", attribute("x"));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 8, "no temporary files left: {names:?}");
    }

    /// Ten pixels a character: names that fit set the area's width; longer ones are cut
    /// in the middle to fit, both ends kept.
    #[test]
    fn labels_fit_their_area_whole_or_cut_in_the_middle() {
        let measure = |t: &str| t.chars().count() as u32 * 10;
        let (width, names) = fit_labels(&["energy", "track_album_id_target_mean"], measure, 400);
        assert_eq!(width, 26 * 10 + 14);
        assert_eq!(names, ["energy", "track_album_id_target_mean"]);
        let (width, names) = fit_labels(&["a_very_long_input_name_that_cannot_fit"], measure, 200);
        assert!(width <= 200, "{width}");
        assert!(measure(&names[0]) <= 200 - 14, "{}", names[0]);
        assert!(names[0].starts_with("a_very") && names[0].ends_with("fit") && names[0].contains('…'));
    }
}
