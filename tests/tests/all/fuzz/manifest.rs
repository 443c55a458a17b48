//! The manifest parser and route patterns:
//! - any text, and any mutation of the real `spin.toml`, is parsed or refused without a panic;
//!   a syntax error names a line of the text, and a line that is not TOML inserted between
//!   tables is named exactly; a document that parses but makes no sense is refused naming the
//!   table or key at fault;
//! - `RouteTable::find` never panics and returns a route whose pattern covers the path, and
//!   some route whenever one covers it.

use std::path::Path;

use bourse::manifest::{Manifest, ManifestError, Route, RouteTable};
use bourse_tests::workspace;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

use super::cases;

fn spin_toml() -> String {
    std::fs::read_to_string(workspace().join("spin.toml")).expect("spin.toml")
}

/// Parses `text`; a syntax error must name a line the text has (or the one after its end).
fn parse_checked(text: &str) -> Result<Result<Manifest, ManifestError>, TestCaseError> {
    let result = Manifest::parse(Path::new("fuzz.toml"), text);
    if let Err(ManifestError::Syntax { line, column, .. }) = &result {
        let lines = text.lines().count() + 1;
        prop_assert!((1..=lines).contains(line), "line {} of {}", line, lines);
        prop_assert!(*column >= 1);
        let shown = result
            .as_ref()
            .err()
            .map(ToString::to_string)
            .unwrap_or_default();
        prop_assert!(
            shown.starts_with(&format!("fuzz.toml:{line}:")),
            "{}",
            shown
        );
    }
    // A document that parses but makes no sense is refused naming the table or key at fault.
    if let Err(ManifestError::Invalid { message, .. }) = &result {
        let names_place = message.contains('[')
            || message.starts_with("spin_manifest_version")
            || message.starts_with("component id");
        prop_assert!(names_place, "{}", message);
    }
    Ok(result)
}

/// One edit of a text: what editors and careless merges do to a manifest.
#[derive(Clone, Debug)]
enum Edit {
    DeleteLine(usize),
    DuplicateLine(usize),
    InsertLine(usize, String),
    Replace(usize, usize, String),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = any::<usize>();
    prop_oneof![
        at.prop_map(Edit::DeleteLine),
        at.prop_map(Edit::DuplicateLine),
        (at, "[a-z_.=\\[\\]\"{}, 0-9-]{0,24}").prop_map(|(i, s)| Edit::InsertLine(i, s)),
        (at, 0usize..16, any::<String>()).prop_map(|(i, n, s)| Edit::Replace(i, n, s)),
        at.prop_map(Edit::Truncate),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let n = lines.len().max(1);
    match edit {
        Edit::DeleteLine(i) => {
            if !lines.is_empty() {
                lines.remove(i % n);
            }
        }
        Edit::DuplicateLine(i) => {
            if let Some(l) = lines.get(i % n).cloned() {
                lines.insert(i % n, l);
            }
        }
        Edit::InsertLine(i, s) => lines.insert(i % (lines.len() + 1), s.clone()),
        Edit::Replace(i, len, s) => {
            let mut chars: Vec<char> = lines.join("\n").chars().collect();
            let start = i % (chars.len() + 1);
            let end = (start + len).min(chars.len());
            chars.splice(start..end, s.chars());
            return chars.into_iter().collect();
        }
        Edit::Truncate(i) => {
            let chars: Vec<char> = text.chars().collect();
            return chars[..i % (chars.len() + 1)].iter().collect();
        }
    }
    lines.join("\n")
}

#[test]
fn any_text_is_parsed_or_refused_with_a_line() {
    let mut runner = TestRunner::new(cases(512));
    let text = prop_oneof![any::<String>(), "[a-z_.=\\[\\]\"{}, \n0-9-]{0,200}"];
    runner
        .run(&text, |text| parse_checked(&text).map(|_| ()))
        .expect("property holds");
}

#[test]
fn any_edit_of_the_real_manifest_is_parsed_or_refused_with_a_line() {
    let base = spin_toml();
    let mut runner = TestRunner::new(cases(384));
    let edits = proptest::collection::vec(edit(), 1..4);
    runner
        .run(&edits, |edits| {
            let text = edits.iter().fold(base.clone(), |t, e| apply(&t, e));
            parse_checked(&text).map(|_| ())
        })
        .expect("property holds");
}

#[test]
fn a_line_that_is_not_toml_is_named() {
    let base = spin_toml();
    // Before a table header the document is complete, so the junk line itself is the error
    // (inside an open array, or when the junk opens one, toml may point further on).
    let headers: Vec<usize> = base
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with('['))
        .map(|(i, _)| i)
        .collect();
    let mut runner = TestRunner::new(cases(256));
    let at = proptest::sample::select(headers);
    runner
        .run(
            &(at, "[@!%&][a-zA-Z0-9 @!%&*.,;:?/-]{0,20}"),
            |(at, junk)| {
                let mut lines: Vec<&str> = base.lines().collect();
                lines.insert(at, &junk);
                let text = lines.join("\n");
                match parse_checked(&text)? {
                    Err(ManifestError::Syntax { line, .. }) => prop_assert_eq!(line, at + 1),
                    other => prop_assert!(
                        false,
                        "{:?} accepted or refused without a line",
                        other.err()
                    ),
                }
                Ok(())
            },
        )
        .expect("property holds");
}

/// Whether `pattern` (Spin's syntax) serves `path`, worked out on the text.
fn pattern_covers(pattern: &str, path: &str) -> bool {
    let mut want: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let wildcard = want.last() == Some(&"...");
    if wildcard {
        want.pop();
    }
    let got: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let lengths_fit = if wildcard {
        got.len() >= want.len()
    } else {
        got.len() == want.len()
    };
    lengths_fit
        && want
            .iter()
            .zip(&got)
            .all(|(w, g)| w.starts_with(':') || w == g)
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(vec!["api", "orders", "book", "x", ""]).prop_map(String::from),
        2 => Just(":id".to_string()),
        1 => Just("...".to_string()),
        1 => "[a-z:.]{0,4}",
    ]
}

fn pattern() -> impl Strategy<Value = String> {
    proptest::collection::vec(segment(), 0..5).prop_map(|s| format!("/{}", s.join("/")))
}

#[test]
fn routes_are_found_only_where_their_pattern_covers_the_path() {
    let mut runner = TestRunner::new(cases(1024));
    let input = (
        proptest::collection::vec(pattern(), 0..8),
        prop_oneof![pattern(), any::<String>()],
    );
    runner
        .run(&input, |(patterns, path)| {
            let routes: Vec<Route> = patterns
                .iter()
                .enumerate()
                .filter_map(|(i, p)| Route::parse(p, &format!("c{i}")).ok())
                .collect();
            let covering = routes.iter().any(|r| pattern_covers(&r.pattern, &path));
            let table = RouteTable::new(routes);
            match table.find(&path) {
                Some(r) => prop_assert!(
                    pattern_covers(&r.pattern, &path),
                    "{} for {}",
                    r.pattern,
                    path
                ),
                None => prop_assert!(
                    !covering,
                    "nothing found for {} though a route covers it",
                    path
                ),
            }
            for r in table.iter() {
                let _ = table.covers(&path, r);
            }
            Ok(())
        })
        .expect("property holds");
}

#[test]
fn any_pattern_is_parsed_or_refused_without_a_panic() {
    let mut runner = TestRunner::new(cases(1024));
    runner
        .run(&prop_oneof![pattern(), any::<String>()], |p| {
            if let Ok(route) = Route::parse(&p, "c") {
                prop_assert!(p.starts_with('/'));
                prop_assert_eq!(route.pattern, p);
            }
            Ok(())
        })
        .expect("property holds");
}
