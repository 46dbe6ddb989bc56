//! Per-year means of the real Kaggle 1921-2020 dataset, every five years.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Columns: year, acousticness, danceability, duration_ms, energy, instrumentalness,
/// liveness, loudness, speechiness, tempo, valence, popularity (means over that year's
/// tracks in the dataset's `data_by_year.csv`).
const ANCHORS: [[f64; 12]; 21] = [
    [
        1921.0, 0.887, 0.419, 260537.0, 0.232, 0.345, 0.206, -17.05, 0.074, 101.53, 0.379, 0.65,
    ],
    [
        1925.0, 0.963, 0.574, 184987.0, 0.279, 0.418, 0.238, -14.15, 0.112, 115.52, 0.622, 2.60,
    ],
    [
        1930.0, 0.937, 0.518, 195150.0, 0.334, 0.352, 0.221, -12.87, 0.120, 109.87, 0.616, 0.93,
    ],
    [
        1935.0, 0.778, 0.556, 220124.0, 0.246, 0.226, 0.229, -15.41, 0.354, 110.67, 0.546, 1.50,
    ],
    [
        1940.0, 0.848, 0.522, 182228.0, 0.311, 0.317, 0.264, -13.68, 0.243, 108.45, 0.617, 0.93,
    ],
    [
        1945.0, 0.710, 0.519, 196162.0, 0.226, 0.276, 0.203, -16.98, 0.305, 108.32, 0.491, 2.13,
    ],
    [
        1950.0, 0.854, 0.504, 215073.0, 0.314, 0.245, 0.217, -13.86, 0.153, 111.75, 0.552, 3.21,
    ],
    [
        1955.0, 0.841, 0.488, 222137.0, 0.295, 0.217, 0.221, -13.84, 0.090, 111.02, 0.472, 10.14,
    ],
    [
        1960.0, 0.767, 0.486, 210210.0, 0.341, 0.177, 0.208, -13.81, 0.066, 112.56, 0.524, 19.78,
    ],
    [
        1965.0, 0.610, 0.503, 196342.0, 0.449, 0.118, 0.214, -11.89, 0.058, 116.84, 0.581, 27.52,
    ],
    [
        1970.0, 0.460, 0.506, 242852.0, 0.496, 0.128, 0.212, -11.77, 0.052, 117.11, 0.572, 34.39,
    ],
    [
        1975.0, 0.434, 0.521, 254969.0, 0.523, 0.111, 0.215, -11.49, 0.061, 118.68, 0.569, 34.81,
    ],
    [
        1980.0, 0.285, 0.556, 252836.0, 0.598, 0.129, 0.204, -10.70, 0.059, 122.99, 0.598, 36.21,
    ],
    [
        1985.0, 0.297, 0.556, 252276.0, 0.602, 0.114, 0.199, -11.36, 0.058, 121.98, 0.566, 37.01,
    ],
    [
        1990.0, 0.333, 0.535, 256451.0, 0.572, 0.126, 0.191, -11.33, 0.064, 120.06, 0.527, 40.79,
    ],
    [
        1995.0, 0.303, 0.559, 246624.0, 0.579, 0.123, 0.201, -10.12, 0.084, 119.28, 0.530, 44.80,
    ],
    [
        2000.0, 0.289, 0.591, 242725.0, 0.625, 0.101, 0.198, -8.25, 0.089, 119.00, 0.559, 46.68,
    ],
    [
        2005.0, 0.256, 0.572, 237230.0, 0.653, 0.090, 0.190, -7.47, 0.093, 121.62, 0.533, 50.95,
    ],
    [
        2010.0, 0.243, 0.572, 242812.0, 0.682, 0.083, 0.200, -6.91, 0.081, 123.57, 0.521, 52.73,
    ],
    [
        2015.0, 0.254, 0.594, 230029.0, 0.627, 0.107, 0.189, -7.63, 0.097, 120.12, 0.432, 56.70,
    ],
    [
        2020.0, 0.220, 0.693, 193728.0, 0.631, 0.016, 0.179, -6.60, 0.141, 124.28, 0.501, 64.30,
    ],
];

/// First and last year of the dataset.
pub const YEARS: (i32, i32) = (1921, 2020);

/// Mean of every feature in one year.
pub struct YearProfile {
    pub acousticness: f64,
    pub danceability: f64,
    pub duration_ms: f64,
    pub energy: f64,
    pub instrumentalness: f64,
    pub liveness: f64,
    pub loudness: f64,
    pub speechiness: f64,
    pub tempo: f64,
    pub valence: f64,
    pub popularity: f64,
}

impl YearProfile {
    /// Means in `year`, interpolated between the anchors (clamped to 1921..=2020).
    pub fn at(year: i32) -> YearProfile {
        let y = f64::from(year.clamp(YEARS.0, YEARS.1));
        let i = ANCHORS
            .iter()
            .rposition(|a| a[0] <= y)
            .unwrap_or(0)
            .min(ANCHORS.len() - 2);
        let (a, b) = (&ANCHORS[i], &ANCHORS[i + 1]);
        let t = (y - a[0]) / (b[0] - a[0]);
        let v = |k: usize| a[k] + t * (b[k] - a[k]);
        YearProfile {
            acousticness: v(1),
            danceability: v(2),
            duration_ms: v(3),
            energy: v(4),
            instrumentalness: v(5),
            liveness: v(6),
            loudness: v(7),
            speechiness: v(8),
            tempo: v(9),
            valence: v(10),
            popularity: v(11),
        }
    }
}

/// A release year; as in the real data, years before 1935 hold fewer tracks.
pub fn sample_year(rng: &mut ChaCha8Rng) -> i32 {
    loop {
        let year = rng.random_range(YEARS.0..=YEARS.1);
        let keep = if year < 1935 { 0.35 } else { 1.0 };
        if rng.random_bool(keep) {
            return year;
        }
    }
}
