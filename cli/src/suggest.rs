//! "Did you mean" for misspelt names: models, scenario fields and enum variants. (Subcommands and
//! flags get clap's own suggestions.)

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo
/// (at most a third of the word's length, at least 1), or a candidate that differs only in case
/// or in `_`/`-`.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let plain = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| (if plain(c) == plain(word) { 0 } else { distance(word, c) }, c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `" (did you mean `x`?)"`, or nothing.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(word, candidates).map(|c| format!(" (did you mean `{c}`?)")).unwrap_or_default()
}

/// Levenshtein distance, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb { prev } else { 1 + prev.min(row[j]).min(cur) };
            prev = cur;
        }
    }
    row[b.len()]
}

/// A parser's message about an unknown field or variant (RON's "Unexpected field named `x` in
/// `Y`, expected one of `a`, `b`, or `c` instead"), with a suggestion from the names it lists
/// appended; other messages unchanged.
pub fn on_unknown_name(message: &str) -> String {
    let Some(rest) = message.split_once(" named `").map(|(_, r)| r) else { return message.to_string() };
    let Some((word, after)) = rest.split_once('`') else { return message.to_string() };
    let Some((_, listed)) = after.split_once("expected") else { return message.to_string() };
    let names: Vec<&str> = listed.split('`').skip(1).step_by(2).collect();
    format!("{message}{}", did_you_mean(word, names))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_the_closest_name_and_strangers_get_nothing() {
        let models = ["dynamo", "kafka", "register", "ratelimit", "snowflake"];
        assert_eq!(closest("dynamoo", models), Some("dynamo"));
        assert_eq!(closest("regster", models), Some("register"));
        assert_eq!(closest("Kafka", models), Some("kafka"));
        assert_eq!(closest("rate-limit", ["rate_limit"]), Some("rate_limit"));
        assert_eq!(closest("zookeeper", models), None);
        assert_eq!(closest("ab", ["xy"]), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn an_unknown_field_message_gets_a_suggestion_from_the_names_it_lists() {
        let m = "Unexpected field named `replics` in `DynamoConfig`, expected one of `replicas`, `read_quorum`, \
                 or `write_quorum` instead";
        assert_eq!(on_unknown_name(m), format!("{m} (did you mean `replicas`?)"));
        let v =
            "Unexpected variant named `OpenLop` in enum `Arrival`, expected either `OpenLoop` or `ClosedLoop` instead";
        assert!(on_unknown_name(v).ends_with("(did you mean `OpenLoop`?)"));
        let far = "Unexpected field named `colour`, expected `servers` instead";
        assert_eq!(on_unknown_name(far), far);
        assert_eq!(on_unknown_name("Expected a number"), "Expected a number");
    }
}
