//! The lifecycle table in the code agrees, pair by pair, with the table as
//! written in the specification (`tests/fixtures/lifecycle.md`, copied
//! verbatim).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use smart_router_webhooks::TransactionStatus;

/// Reads the markdown table: `| from | expected next |`, where a cell lists
/// statuses separated by commas, a status may be followed by a remark in
/// parentheses, and `none: final` means no successor.
fn spec_table() -> BTreeMap<String, BTreeSet<String>> {
    let mut table = BTreeMap::new();
    for line in include_str!("fixtures/lifecycle.md").lines().skip(2) {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        if cells.len() != 2 {
            continue;
        }
        let next: BTreeSet<String> = if cells[1].starts_with("none") {
            BTreeSet::new()
        } else {
            cells[1]
                .split(',')
                .map(|s| s.split('(').next().unwrap().trim().to_owned())
                .collect()
        };
        for from in cells[0].split(',') {
            table.insert(from.trim().to_owned(), next.clone());
        }
    }
    table
}

#[test]
fn every_status_pair_matches_the_specification() {
    let spec = spec_table();
    assert_eq!(spec.len(), 15, "the specification lists 15 statuses");
    let mut pairs = 0;
    for from in spec.keys() {
        let from_status: TransactionStatus = from.parse().unwrap();
        assert!(!from_status.is_unknown(), "{from} is a known status");
        for to in spec.keys() {
            let to_status: TransactionStatus = to.parse().unwrap();
            assert_eq!(
                from_status.can_transition_to(&to_status),
                spec[from].contains(to),
                "{from} -> {to}"
            );
            pairs += 1;
        }
        assert_eq!(from_status.is_final(), spec[from].is_empty(), "{from}");
        let listed: BTreeSet<String> = from_status
            .expected_next()
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect();
        assert_eq!(listed, spec[from], "{from}");
    }
    assert_eq!(pairs, 225);
}
