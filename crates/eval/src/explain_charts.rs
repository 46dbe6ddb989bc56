//! Charts of per-song contributions: a beeswarm summary, dependence plots and waterfalls.
//! Like every chart of [`crate::plots`], each draws on any plotters backend.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::plots::{caption_style, color, configure_rows, err, row_labels, Chart, FONT, LABEL_PX};

/// Colour of a point whose input value is at `position` of its input's range (0: lowest,
/// 1: highest): blue through purple to red, as the usual SHAP summary plots.
fn value_color(position: f64) -> RGBColor {
    let t = position.clamp(0.0, 1.0);
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(mix(30.0, 220.0), mix(100.0, 30.0), mix(230.0, 60.0))
}

/// The range of `values` widened by `share` of its width on each side (at least 1e-6);
/// `0..1` when there are none.
fn padded_range(values: impl Iterator<Item = f64>, share: f64) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * share).max(1e-6);
    (lo - pad, hi + pad)
}

/// Grey for songs whose input value is missing.
const MISSING: RGBColor = RGBColor(170, 170, 170);

/// Each value's position in its column's range, by rank (NaN: `None`).
pub fn rank_positions(values: &[f64]) -> Vec<Option<f64>> {
    let mut order: Vec<usize> = (0..values.len()).filter(|&i| !values[i].is_nan()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let n = order.len().saturating_sub(1).max(1) as f64;
    let mut positions = vec![None; values.len()];
    let mut start = 0;
    // Ties share the mean rank of their run.
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && values[order[end + 1]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + end) as f64 / 2.0 / n;
        for &i in &order[start..=end] {
            positions[i] = Some(rank);
        }
        start = end + 1;
    }
    positions
}

/// A beeswarm row: the input and each song's `(contribution, position of its value in
/// the input's range, 0..=1, or `None` when missing)`.
pub type BeeswarmRow = (String, Vec<(f64, Option<f64>)>);

/// The beeswarm summary: one row per input (largest mean |contribution| on top), one dot
/// per song at its contribution, coloured by the song's value of the input.
#[derive(Debug, Clone)]
pub struct BeeswarmChart {
    /// Chart title.
    pub title: String,
    /// Horizontal axis label (the output space).
    pub x_label: String,
    /// One row per input, top row first.
    pub rows: Vec<BeeswarmRow>,
}

impl Chart for BeeswarmChart {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        area.fill(&WHITE).map_err(err)?;
        let n = self.rows.len().max(1);
        let all = self.rows.iter().flat_map(|(_, p)| p.iter().map(|(c, _)| *c));
        let (lo, hi) = padded_range(all.chain([0.0]), 0.05);
        let names: Vec<&str> = self.rows.iter().rev().map(|(name, _)| name.as_str()).collect();
        let (label_area, names) = row_labels(area, &names);
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, caption_style())
            .margin(18)
            .x_label_area_size(85)
            .y_label_area_size(label_area)
            .build_cartesian_2d(lo..hi, 0f64..n as f64)
            .map_err(err)?;
        configure_rows(&mut chart, &names, &self.x_label)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.0, 0.0), (0.0, n as f64)],
                RGBColor(120, 120, 120).stroke_width(1),
            )))
            .map_err(err)?;
        for (row, (_, points)) in self.rows.iter().rev().enumerate() {
            chart
                .draw_series(points.iter().enumerate().map(|(k, &(c, position))| {
                    // A fixed spread around the row's centre (golden-ratio steps), so
                    // dense contributions show as a band.
                    let jitter = ((k as f64 * 0.618_034).fract() - 0.5) * 0.6;
                    let fill = position.map_or(MISSING, value_color).filled();
                    Circle::new((c, row as f64 + 0.5 + jitter), 3, fill)
                }))
                .map_err(err)?;
        }
        legend(area)
    }
}

/// "low … high" colour key in the lower left corner, below the input names.
fn legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>) -> Result<(), String> {
    let (_, h) = area.dim_in_pixel();
    let (x, y) = (20, h as i32 - 24);
    let style = TextStyle::from((FONT, 15).into_font());
    area.draw(&Text::new("value: low", (x, y - 7), style.clone()))
        .map_err(err)?;
    for k in 0..60 {
        let px = x + 78 + k;
        area.draw(&Rectangle::new(
            [(px, y - 6), (px + 1, y + 6)],
            value_color(k as f64 / 59.0).filled(),
        ))
        .map_err(err)?;
    }
    area.draw(&Text::new("high", (x + 144, y - 7), style))
        .map_err(err)
}

/// A dependence plot: each song's value of one input against its contribution.
#[derive(Debug, Clone)]
pub struct DependenceChart {
    /// Chart title.
    pub title: String,
    /// The input (horizontal axis).
    pub input: String,
    /// Vertical axis label (the output space).
    pub y_label: String,
    /// `(value, contribution)` of each song with a value.
    pub points: Vec<(f64, f64)>,
}

impl Chart for DependenceChart {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        area.fill(&WHITE).map_err(err)?;
        let (x0, x1) = padded_range(self.points.iter().map(|p| p.0), 0.05);
        let (y0, y1) = padded_range(self.points.iter().map(|p| p.1).chain([0.0]), 0.05);
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, caption_style())
            .margin(18)
            .x_label_area_size(55)
            .y_label_area_size(80)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(&self.input)
            .y_desc(&self.y_label)
            .axis_desc_style((FONT, 20))
            .label_style((FONT, LABEL_PX))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(x0, 0.0), (x1, 0.0)],
                RGBColor(120, 120, 120).stroke_width(1),
            )))
            .map_err(err)?;
        let fill = color(0).mix(0.55).filled();
        chart
            .draw_series(self.points.iter().map(|&p| Circle::new(p, 3, fill)))
            .map_err(err)?;
        Ok(())
    }
}

/// A waterfall of one song: from the expected output, each listed contribution in turn
/// (largest first, the rest summed on the last row), to the song's output.
#[derive(Debug, Clone)]
pub struct WaterfallChart {
    /// Chart title.
    pub title: String,
    /// Horizontal axis label (the output space).
    pub x_label: String,
    /// The expected output (every song's starting point).
    pub expected: f64,
    /// `(label, contribution)`, drawn top to bottom.
    pub steps: Vec<(String, f64)>,
}

impl Chart for WaterfallChart {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        area.fill(&WHITE).map_err(err)?;
        let n = self.steps.len().max(1);
        let mut ends = vec![self.expected];
        for (_, c) in &self.steps {
            ends.push(ends[ends.len() - 1] + c);
        }
        let (lo, hi) = padded_range(ends.iter().copied(), 0.12);
        let names: Vec<&str> = self.steps.iter().rev().map(|(name, _)| name.as_str()).collect();
        let (label_area, names) = row_labels(area, &names);
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, caption_style())
            .margin(18)
            .x_label_area_size(55)
            .y_label_area_size(label_area)
            .build_cartesian_2d(lo..hi, 0f64..n as f64)
            .map_err(err)?;
        configure_rows(&mut chart, &names, &self.x_label)?;
        let grey = RGBColor(120, 120, 120);
        let output = ends[ends.len() - 1];
        // Each label on the side of its line away from the other, so neither is cut off.
        let expected_left = self.expected > output;
        for (x, label, left) in [
            (self.expected, "expected", expected_left),
            (output, "this song", !expected_left),
        ] {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x, 0.0), (x, n as f64)],
                    5,
                    4,
                    grey.stroke_width(1),
                ))
                .map_err(err)?;
            let anchor = Pos::new(if left { HPos::Right } else { HPos::Left }, VPos::Top);
            let style = TextStyle::from((FONT, 14).into_font()).color(&grey).pos(anchor);
            chart
                .draw_series(std::iter::once(Text::new(
                    format!(" {label} {x:.3} "),
                    (x, n as f64),
                    style,
                )))
                .map_err(err)?;
        }
        let up = RGBColor(214, 39, 40);
        let down = RGBColor(31, 119, 180);
        for (i, (_, c)) in self.steps.iter().enumerate() {
            let row = (n - 1 - i) as f64;
            let (from, to) = (ends[i], ends[i + 1]);
            let fill = if *c >= 0.0 { up } else { down };
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(from, row + 0.2), (to, row + 0.8)],
                    fill.filled(),
                )))
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{c:+.3}"),
                    (from.max(to), row + 0.35),
                    (FONT, 14).into_font(),
                )))
                .map_err(err)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_positions_span_zero_to_one_share_ties_and_skip_missing() {
        let p = rank_positions(&[3.0, f64::NAN, 1.0, 3.0, 2.0]);
        assert_eq!(
            p,
            vec![Some(5.0 / 6.0), None, Some(0.0), Some(5.0 / 6.0), Some(1.0 / 3.0)]
        );
        assert_eq!(rank_positions(&[7.0]), vec![Some(0.0)]);
        assert!(rank_positions(&[]).is_empty());
    }
}
