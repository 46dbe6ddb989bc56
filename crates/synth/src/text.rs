//! Text fields: ids, names, artist lists and release dates.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const SYLLABLES: [&str; 24] = [
    "ka", "lo", "mi", "ra", "ven", "tor", "sa", "li", "do", "mar", "el", "ni", "jo", "bel", "an", "the",
    "ro", "su", "vi", "da", "pe", "qua", "zo", "ly",
];
const WORDS: [&str; 20] = [
    "Love", "Night", "Blue", "Dance", "Heart", "Rain", "Fire", "Home", "Baby", "Dream", "Summer", "Road",
    "Moon", "Time", "Gold", "River", "Light", "Song", "Shadow", "Wild",
];

/// A 22-character base62 id, as Spotify's.
pub fn track_id(rng: &mut ChaCha8Rng) -> String {
    (0..22)
        .map(|_| BASE62[rng.random_range(0..BASE62.len())] as char)
        .collect()
}

fn word(rng: &mut ChaCha8Rng, syllables: usize) -> String {
    let mut w: String = (0..syllables)
        .map(|_| SYLLABLES[rng.random_range(0..SYLLABLES.len())])
        .collect();
    if let Some(first) = w.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    w
}

/// An artist name; some hold an apostrophe, as "Guns N' Roses" does.
pub fn artist_name(index: usize, rng: &mut ChaCha8Rng) -> String {
    let base = format!("{} {}", word(rng, 2), word(rng, 3));
    match index % 17 {
        0 => format!("{base}'s Band"),
        5 => format!("The {base}"),
        _ => base,
    }
}

/// A track title; some hold commas or double quotes.
pub fn track_name(rng: &mut ChaCha8Rng) -> String {
    let a = WORDS[rng.random_range(0..WORDS.len())];
    let b = WORDS[rng.random_range(0..WORDS.len())];
    match rng.random_range(0..20) {
        0 => format!("{a}, {b}"),
        1 => format!("{a} \"{b}\""),
        2 => format!("{a} {b} - Remastered"),
        _ => format!("{a} {b}"),
    }
}

/// A Python list literal of strings, as pandas wrote the real `artists` column.
pub fn python_list(names: &[&str]) -> String {
    let items: Vec<String> = names
        .iter()
        .map(|n| {
            if n.contains('\'') {
                format!("\"{n}\"")
            } else {
                format!("'{n}'")
            }
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// A CSV field, quoted when it holds a comma or a quote.
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// `YYYY` (mostly for old tracks), `YYYY-MM` or `YYYY-MM-DD`.
pub fn release_date(year: i32, rng: &mut ChaCha8Rng) -> String {
    let year_only = if year < 1950 { 0.7 } else { 0.15 };
    let r: f64 = rng.random();
    let month = rng.random_range(1..=12);
    if r < year_only {
        format!("{year}")
    } else if r < year_only + 0.05 {
        format!("{year}-{month:02}")
    } else {
        format!("{year}-{month:02}-{:02}", rng.random_range(1..=28))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_lists_quote_like_python() {
        assert_eq!(python_list(&["A", "B"]), "['A', 'B']");
        assert_eq!(python_list(&["Guns N' Roses"]), "[\"Guns N' Roses\"]");
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
