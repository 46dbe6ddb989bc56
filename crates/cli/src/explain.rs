//! `replay explain`: the output of [`replay_pipeline::stages::explain`] as a terminal
//! table, CSV or JSON.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use replay_pipeline::stages::{ExplainedSong, Explanation};

/// A CSV field: quoted when it holds a comma, a quote or a line end (quotes doubled).
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The `top` largest column contributions of a song and the sum of the others, if any.
fn top_of(song: &ExplainedSong, top: usize) -> (Vec<(&str, f64)>, Option<f64>) {
    let shown = song
        .columns
        .iter()
        .take(top)
        .map(|c| (c.column.as_str(), c.value))
        .collect();
    let rest = (song.columns.len() > top).then(|| song.columns[top..].iter().map(|c| c.value).sum());
    (shown, rest)
}

/// A readable table of the first `limit` songs.
pub fn table(e: &Explanation, top: usize, limit: usize) -> String {
    let mut out = format!(
        "contributions in {} (expected {:+.4} over the training songs); largest {top} source columns per song\n",
        e.space.name(),
        e.expected
    );
    if let Some(method) = e.calibration {
        let _ = writeln!(
            out,
            "probabilities are the {} calibration of the model's {}",
            method.name(),
            e.space.name()
        );
    }
    for song in e.songs.iter().take(limit) {
        let _ = writeln!(
            out,
            "\n{}  probability {:.4}  ({} {:+.4} = expected {:+.4} + contributions {:+.4})",
            song.id,
            song.probability,
            e.space.name(),
            song.output,
            e.expected,
            song.output - e.expected
        );
        let (shown, rest) = top_of(song, top);
        for (column, value) in shown {
            let _ = writeln!(out, "  {value:+9.4}  {column}");
        }
        if let Some(rest) = rest {
            let _ = writeln!(
                out,
                "  {rest:+9.4}  (the other {} columns)",
                song.columns.len() - top
            );
        }
    }
    if e.songs.len() > limit {
        let _ = writeln!(out, "\n... and {} more songs", e.songs.len() - limit);
    }
    out
}

/// CSV, one line per song and shown column: id, probability, output space, expected
/// value, the song's output, rank, column (`(rest)` for the sum of the others) and
/// contribution.
pub fn csv(e: &Explanation, top: usize) -> String {
    let mut out = String::from("id,probability,space,expected,output,rank,column,contribution\n");
    for song in &e.songs {
        let (shown, rest) = top_of(song, top);
        let rows = shown.into_iter().chain(rest.map(|r| ("(rest)", r)));
        for (rank, (column, value)) in rows.enumerate() {
            let _ = writeln!(
                out,
                "{},{:.6},{},{:.6},{:.6},{},{},{:.6}",
                csv_field(&song.id),
                song.probability,
                e.space.name(),
                e.expected,
                song.output,
                rank + 1,
                csv_field(column),
                value
            );
        }
    }
    out
}

/// JSON: the space and expected value, and per song its probability, output and the
/// shown columns with each of their inputs' value (null when missing) and contribution.
pub fn json(e: &Explanation, top: usize) -> String {
    let songs: Vec<serde_json::Value> = e
        .songs
        .iter()
        .map(|song| {
            let (_, rest) = top_of(song, top);
            let columns: Vec<serde_json::Value> = song
                .columns
                .iter()
                .take(top)
                .map(|c| {
                    let inputs: serde_json::Map<String, serde_json::Value> = c
                        .inputs
                        .iter()
                        .map(|i| {
                            let entry =
                                serde_json::json!({ "value": i.value, "contribution": i.contribution });
                            (i.name.clone(), entry)
                        })
                        .collect();
                    serde_json::json!({ "column": c.column, "contribution": c.value, "inputs": inputs })
                })
                .collect();
            serde_json::json!({
                "id": song.id,
                "probability": song.probability,
                "output": song.output,
                "columns": columns,
                "rest": rest.unwrap_or(0.0),
            })
        })
        .collect();
    let value = serde_json::json!({
        "space": e.space.name(),
        "expected": e.expected,
        "calibration": e.calibration.map(|m| m.name()),
        "songs": songs,
    });
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

/// Write the explanation to `out` (JSON for a `.json` file, else CSV) and print a table
/// of its first songs; without `out`, print the table of every song.
pub fn write(e: &Explanation, top: usize, out: Option<&Path>) -> Result<()> {
    let Some(path) = out else {
        print!("{}", table(e, top, usize::MAX));
        return Ok(());
    };
    let is_json = path.extension().is_some_and(|x| x.eq_ignore_ascii_case("json"));
    let text = if is_json { json(e, top) } else { csv(e, top) };
    replay_core::atomic::write_bytes(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    print!("{}", table(e, top, 3));
    println!("wrote {} songs to {}", e.songs.len(), path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("t0001"), "t0001");
        assert_eq!(csv_field(r#"["Halo","Beyoncé"]"#), r#""[""Halo"",""Beyoncé""]""#);
        assert_eq!(csv_field("a\nb"), "\"a\nb\"");
    }
}
