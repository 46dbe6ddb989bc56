//! Synthetic tracks in the schema of Kaggle's "Spotify Dataset 1921-2020" (`data.csv`).
//!
//! Every audio feature follows the real dataset's per-year mean (anchors every five
//! years, taken from its `data_by_year.csv`, interpolated linearly), with spreads typical
//! of the real features. Popularity follows the real per-year mean and, within a year,
//! depends on the sound (danceability, loudness, acousticness, instrumental and spoken
//! tracks, explicit lyrics, very short or long tracks) and on a hidden per-artist effect,
//! so it is learnable as in the real data, with nonlinear parts that trees can find and a
//! linear model cannot. Text fields exercise the format: `artists` is a Python list
//! literal in a quoted field, names hold commas and quotes, and `release_date` is
//! `YYYY`, `YYYY-MM` or `YYYY-MM-DD`. Output is deterministic for a seed.

#![warn(missing_docs)]

mod by_year;
mod text;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, LogNormal, Normal};

use by_year::YearProfile;

/// The Kaggle `data.csv` header, in its column order.
pub const HEADER: &str = "valence,year,acousticness,artists,danceability,duration_ms,energy,explicit,id,\
instrumentalness,key,liveness,loudness,mode,name,popularity,release_date,speechiness,tempo";

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// Writing the output failed.
    #[error("{path}: {source}")]
    Io {
        /// The output file.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
}

/// One artist of the synthetic catalogue.
struct Artist {
    name: String,
    /// Year around which the artist releases.
    career_year: f64,
    /// Popularity points the artist adds to every track.
    effect: f64,
}

/// Write `rows` synthetic tracks as CSV (with header) to `out`.
pub fn generate(rows: usize, seed: u64, out: &mut impl Write) -> io::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let artists = catalogue(rows, &mut rng);
    writeln!(out, "{HEADER}")?;
    for _ in 0..rows {
        let year = by_year::sample_year(&mut rng);
        let track = Track::sample(year, &artists, &mut rng);
        track.write(out)?;
    }
    out.flush()
}

/// Write `rows` tracks to `path`, gzip-compressed when the path ends in `.gz`.
/// The file is written to a temporary name and renamed when complete.
pub fn generate_file(path: &Path, rows: usize, seed: u64) -> Result<(), SynthError> {
    let io_error = |source| SynthError::Io {
        path: path.display().to_string(),
        source,
    };
    let tmp = path.with_extension("partial");
    let result = (|| {
        let file = BufWriter::new(File::create(&tmp)?);
        if path.extension().is_some_and(|e| e == "gz") {
            let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
            generate(rows, seed, &mut gz)?;
            gz.finish()?
                .into_inner()
                .map_err(|e| e.into_error())?
                .sync_all()?;
        } else {
            let mut file = file;
            generate(rows, seed, &mut file)?;
            file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io_error)
}

fn catalogue(rows: usize, rng: &mut ChaCha8Rng) -> Vec<Artist> {
    let n = (rows / 6).max(40);
    let effect = Normal::new(0.0, 11.0).unwrap_or_else(|_| unreachable!("constant parameters"));
    let mut artists: Vec<Artist> = (0..n)
        .map(|i| Artist {
            name: text::artist_name(i, rng),
            career_year: by_year::sample_year(rng) as f64,
            effect: effect.sample(rng),
        })
        .collect();
    artists.sort_by(|a, b| a.career_year.total_cmp(&b.career_year));
    artists
}

/// One generated row.
struct Track {
    year: i32,
    valence: f64,
    acousticness: f64,
    artists: String,
    danceability: f64,
    duration_ms: u32,
    energy: f64,
    explicit: bool,
    id: String,
    instrumentalness: f64,
    key: u32,
    liveness: f64,
    loudness: f64,
    mode: u32,
    name: String,
    popularity: u32,
    release_date: String,
    speechiness: f64,
    tempo: f64,
}

/// A Beta draw with the given mean and concentration (alpha + beta).
fn beta(mean: f64, concentration: f64, rng: &mut ChaCha8Rng) -> f64 {
    let m = mean.clamp(0.005, 0.995);
    Beta::new(m * concentration, (1.0 - m) * concentration)
        .map(|b| b.sample(rng))
        .unwrap_or(m)
}

fn normal(mean: f64, sd: f64, rng: &mut ChaCha8Rng) -> f64 {
    Normal::new(mean, sd).map(|n| n.sample(rng)).unwrap_or(mean)
}

impl Track {
    fn sample(year: i32, artists: &[Artist], rng: &mut ChaCha8Rng) -> Track {
        let m = YearProfile::at(year);
        let acousticness = beta(m.acousticness, 1.1, rng);
        let danceability = beta(m.danceability, 9.0, rng);
        let energy = beta(m.energy, 3.5, rng);
        let instrumental_track = rng.random_bool((m.instrumentalness / 0.75).clamp(0.0, 1.0));
        let instrumentalness = if instrumental_track {
            beta(0.78, 6.0, rng)
        } else {
            beta(0.002, 2.0, rng)
        };
        let liveness = beta(m.liveness, 4.0, rng);
        let spoken = rng.random_bool(((m.speechiness - 0.05) * 0.9).clamp(0.0, 1.0));
        let speechiness = if spoken {
            beta(0.88, 12.0, rng)
        } else {
            beta(0.055, 12.0, rng)
        };
        let valence = beta(m.valence, 4.0, rng);
        let loudness = (normal(m.loudness, 4.5, rng) + 6.0 * (energy - m.energy)).clamp(-60.0, 3.0);
        let tempo = normal(m.tempo, 29.0, rng).clamp(0.0, 243.0);
        let duration_ms = LogNormal::new(m.duration_ms.ln(), 0.38)
            .map(|d| d.sample(rng))
            .unwrap_or(m.duration_ms)
            .clamp(20_000.0, 3_600_000.0);
        let explicit = rng.random_bool(((year as f64 - 1985.0) / 35.0 * 0.25).clamp(0.0, 0.25));

        // Artists active around the track's year; the first one carries the hidden effect.
        let centre = artists.partition_point(|a| a.career_year < year as f64);
        let window = 25.min(artists.len());
        let low = centre.saturating_sub(window / 2).min(artists.len() - window);
        let pick = |rng: &mut ChaCha8Rng| low + rng.random_range(0..window);
        let first = pick(rng);
        let count = match rng.random_range(0..100) {
            0..=84 => 1,
            85..=96 => 2,
            _ => 3,
        };
        let mut names = vec![artists[first].name.as_str()];
        for _ in 1..count {
            names.push(artists[pick(rng)].name.as_str());
        }

        // Mostly nonlinear: sweet spots, thresholds and an energy x valence interaction.
        let within_year = if (0.55..0.85).contains(&danceability) {
            9.0
        } else {
            -4.0
        } + if loudness > m.loudness + 1.5 { 7.0 } else { 0.0 }
            - 10.0 * (acousticness - m.acousticness)
            - if instrumental_track { 12.0 } else { 0.0 }
            - if speechiness > 0.66 { 22.0 } else { 0.0 }
            + if explicit { 7.0 } else { 0.0 }
            - if !(100_000.0..=420_000.0).contains(&duration_ms) {
                10.0
            } else {
                0.0
            }
            + if (energy > 0.5) == (valence > 0.5) {
                6.0
            } else {
                -6.0
            }
            + if (90.0..135.0).contains(&tempo) { 4.0 } else { 0.0 };
        let noise = normal(0.0, 13.0, rng);
        let popularity = (m.popularity + within_year + artists[first].effect + noise)
            .round()
            .clamp(0.0, 100.0) as u32;

        Track {
            year,
            valence,
            acousticness,
            artists: text::python_list(&names),
            danceability,
            duration_ms: duration_ms.round() as u32,
            energy,
            explicit,
            id: text::track_id(rng),
            instrumentalness,
            key: rng.random_range(0..12),
            liveness,
            loudness,
            mode: u32::from(rng.random_bool(0.7)),
            name: text::track_name(rng),
            popularity,
            release_date: text::release_date(year, rng),
            speechiness,
            tempo,
        }
    }

    fn write(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(
            out,
            "{:.4},{},{:.4},{},{:.4},{},{:.4},{},{},{:.6},{},{:.4},{:.3},{},{},{},{},{:.4},{:.3}",
            self.valence,
            self.year,
            self.acousticness,
            text::csv_field(&self.artists),
            self.danceability,
            self.duration_ms,
            self.energy,
            u8::from(self.explicit),
            self.id,
            self.instrumentalness,
            self.key,
            self.liveness,
            self.loudness,
            self.mode,
            text::csv_field(&self.name),
            self.popularity,
            self.release_date,
            self.speechiness,
            self.tempo,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(rows: usize, seed: u64) -> String {
        let mut out = Vec::new();
        generate(rows, seed, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        assert_eq!(sample(300, 1), sample(300, 1));
        assert_ne!(sample(300, 1), sample(300, 2));
    }

    #[test]
    fn header_and_row_count() {
        let text = sample(250, 3);
        assert_eq!(text.lines().next().unwrap(), HEADER);
        // Names may not span lines, so lines = rows + header.
        assert_eq!(text.lines().count(), 251);
    }

    #[test]
    fn popularity_rises_with_the_years_as_in_the_real_data() {
        let text = sample(4000, 5);
        let (mut old, mut new) = (vec![], vec![]);
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split(',').collect();
            let year: i32 = fields[1].parse().unwrap();
            // popularity sits 4th from the end, after the possibly comma-holding name
            let popularity: f64 = fields[fields.len() - 4].parse().unwrap();
            if year < 1950 {
                old.push(popularity);
            } else if year >= 2005 {
                new.push(popularity);
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        assert!(
            mean(&old) < 10.0 && mean(&new) > 45.0,
            "old {} new {}",
            mean(&old),
            mean(&new)
        );
    }
}
