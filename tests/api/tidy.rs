//! Tidy: the invariants of ARCHITECTURE.md that a machine can check, read off the sources of
//! the service and the workspace crates (`vendor/` is not ours): which rooms may name `entity`
//! and `axum`, status words written only through their domain enum, no citation of documents
//! outside the repository, and a `//!` line at the top of every module. Each rule is a function
//! over one file's path and text, so the planted violations below show every rule failing.

use ponto_bridge::domain::invoice::{InvoiceKind, InvoiceStatus};
use ponto_bridge::domain::status::{
    AccountStatus, ConnectionStatus, DeliveryStatus, EndpointStatus, InboundStatus, MatchMethod,
};
use ponto_bridge::domain::transaction::TransactionStatus;
use std::path::{Path, PathBuf};

/// Where our Rust sources live, from the repository's top.
const ROOTS: &[&str] = &[
    "src",
    "entity",
    "migration",
    "clock",
    "ponto-sandbox",
    "cli",
    "tests",
    "benches",
];

/// The stored word of every domain status enum (the `string_enum!` vocabularies).
fn status_words() -> Vec<&'static str> {
    let mut words: Vec<&'static str> = Vec::new();
    words.extend(ConnectionStatus::ALL.iter().map(|s| s.as_str()));
    words.extend(AccountStatus::ALL.iter().map(|s| s.as_str()));
    words.extend(MatchMethod::ALL.iter().map(|s| s.as_str()));
    words.extend(EndpointStatus::ALL.iter().map(|s| s.as_str()));
    words.extend(DeliveryStatus::ALL.iter().map(|s| s.as_str()));
    words.extend(InboundStatus::ALL.iter().map(|s| s.as_str()));
    words.extend(TransactionStatus::ALL.iter().map(|s| s.as_str()));
    words.extend(InvoiceKind::ALL.iter().map(|s| s.as_str()));
    words.extend(InvoiceStatus::ALL.iter().map(|s| s.as_str()));
    words
}

/// One file's code with comments blanked out, line by line, and its string literals.
struct Code {
    lines: Vec<String>,
    literals: Vec<(usize, String)>,
}

/// A small lexer: enough of Rust to tell comments and string literals from code (raw strings,
/// escapes, char literals and lifetimes included).
fn lex(text: &str) -> Code {
    let chars: Vec<char> = text.chars().collect();
    let (mut code, mut literals) = (String::new(), Vec::new());
    let (mut i, mut line) = (0, 1);
    let next_is = |i: usize, s: &str| {
        s.chars()
            .enumerate()
            .all(|(k, c)| chars.get(i + k) == Some(&c))
    };
    while i < chars.len() {
        let c = chars[i];
        if next_is(i, "//") {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if next_is(i, "/*") {
            let mut depth = 0;
            while i < chars.len() {
                if next_is(i, "/*") {
                    depth += 1;
                    i += 2;
                } else if next_is(i, "*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        code.push('\n');
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if c == '"' || ((c == 'r' || c == 'b') && raw_start(&chars, i).is_some()) {
            let (start_line, mut lit) = (line, String::new());
            if let Some((hashes, open)) = raw_start(&chars, i) {
                let close: String = std::iter::once('"')
                    .chain((0..hashes).map(|_| '#'))
                    .collect();
                i = open;
                while i < chars.len() && !next_is(i, &close) {
                    line += usize::from(chars[i] == '\n');
                    lit.push(chars[i]);
                    i += 1;
                }
                i += close.len();
            } else {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        lit.push(chars[i]);
                        i += 1;
                    }
                    line += usize::from(chars[i] == '\n');
                    lit.push(chars[i]);
                    i += 1;
                }
                i += 1;
            }
            code.push_str("\"\"");
            code.extend(std::iter::repeat_n('\n', line - start_line));
            literals.push((start_line, lit));
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            // A one-character literal such as '"' must not open a string.
            code.push_str("' '");
            i += 3;
        } else if c == '\'' && chars.get(i + 1) == Some(&'\\') {
            // An escaped character literal: '\'', '\n', '\u{..}'.
            let len = chars[i + 3..].iter().position(|c| *c == '\'').unwrap_or(0);
            i += 3 + len + 1;
            code.push_str("' '");
        } else {
            line += usize::from(c == '\n');
            code.push(c);
            i += 1;
        }
    }
    Code {
        lines: code.lines().map(str::to_owned).collect(),
        literals,
    }
}

/// `r"`, `r#"`, `br"`…: the number of `#`s and where the contents start.
fn raw_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    let mut j = i;
    if chars.get(j) == Some(&'b') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return (j > i && chars.get(j) == Some(&'"')).then_some((0, j + 1));
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|c| **c == '#').count();
    (chars.get(j + hashes) == Some(&'"')).then_some((hashes, j + hashes + 1))
}

/// A path (from the repository's top, with `/`) under one of `dirs`.
fn under(path: &str, dirs: &[&str]) -> bool {
    dirs.iter()
        .any(|d| path == *d || path.starts_with(&format!("{d}/")))
}

/// Lines of code (comments removed) naming the crate `name` as a path root.
fn uses_crate(code: &Code, name: &str) -> Vec<usize> {
    code.lines
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            l.match_indices(name).any(|(at, _)| {
                let before = l[..at].chars().next_back();
                let after = &l[at + name.len()..];
                !before.is_some_and(|b| b.is_alphanumeric() || b == '_' || b == ':')
                    && (after.starts_with("::")
                        || ((after.starts_with(';') || after.starts_with(" as "))
                            && l.contains("use ")))
            })
        })
        .map(|(n, _)| n + 1)
        .collect()
}

/// Every rule broken by one file: `path` from the repository's top.
fn violations(path: &str, text: &str, words: &[&str]) -> Vec<String> {
    let code = lex(text);
    let mut out = Vec::new();
    if !text.starts_with("//!") {
        out.push(format!(
            "{path}: a module starts with a `//!` line saying what it owns"
        ));
    }
    // Spelled in two pieces so this file does not cite it.
    let outside = concat!("DESIGN", ".md");
    if let Some(n) = text.lines().position(|l| l.contains(outside)) {
        out.push(format!(
            "{path}:{}: cites {outside}, outside the repository (cite ARCHITECTURE.md)",
            n + 1
        ));
    }
    // The crate's own sources, its migrations and the suite that checks its tables.
    let entity_rooms = ["src/store", "entity", "migration", "tests", "benches"];
    if !under(path, &entity_rooms) {
        for n in uses_crate(&code, "entity") {
            out.push(format!(
                "{path}:{n}: `entity` outside store/ and migration/"
            ));
        }
    }
    // Tests and benchmarks stand up servers of their own; the CLI does not, except the demo's
    // webhook subscriber, which stands in for a customer's server as the sandbox does for Ponto.
    let axum_rooms = [
        "src/http",
        "src/app.rs",
        "ponto-sandbox",
        "cli/src/demo_receiver.rs",
        "tests",
        "benches",
    ];
    if !under(path, &axum_rooms) {
        for name in ["axum", "axum_server", "async_graphql_axum"] {
            for n in uses_crate(&code, name) {
                out.push(format!(
                    "{path}:{n}: `{name}` outside http/, the wiring and the stand-ins"
                ));
            }
        }
    }
    // The Ponto client and the sandbox speak Ponto's words, not ours; tests read our answers
    // as clients do.
    let word_rooms = [
        "src/ponto",
        "src/domain",
        "migration",
        "ponto-sandbox",
        "tests",
        "benches",
    ];
    if !under(path, &word_rooms) {
        for (n, lit) in &code.literals {
            if words.contains(&lit.as_str()) {
                out.push(format!(
                    "{path}:{n}: the status word \"{lit}\" written by hand (use its enum's as_str)"
                ));
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        if path.is_dir() && !matches!(name.as_ref(), "target" | "node_modules" | "vendor") {
            rust_files(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_sources_keep_the_machine_checkable_invariants() {
    let top = Path::new(repo_path!("")).canonicalize().unwrap();
    let words = status_words();
    let mut files = Vec::new();
    for root in ROOTS {
        rust_files(&top.join(root), &mut files);
    }
    assert!(
        files.len() > 150,
        "the walk found the sources: {}",
        files.len()
    );
    let mut found = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(&top)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        found.extend(violations(
            &rel,
            &std::fs::read_to_string(file).unwrap(),
            &words,
        ));
    }
    assert!(found.is_empty(), "tidy:\n{}", found.join("\n"));
}

#[test]
fn each_rule_catches_its_planted_violation() {
    let words = status_words();
    let ok = "//! Owns nothing.\nfn f() {}\n";
    assert_eq!(
        violations("src/pull/x.rs", ok, &words),
        Vec::<String>::new()
    );
    let planted = [
        ("src/pull/x.rs", "fn f() {}\n", "`//!`"),
        ("src/pull/x.rs", "//! x\nuse entity::event;\n", "`entity`"),
        (
            "src/graphql/x.rs",
            "//! x\nfn f(m: entity::event::Model) {}\n",
            "`entity`",
        ),
        ("src/domain/x.rs", "//! x\nuse axum::Router;\n", "`axum`"),
        (
            "cli/src/x.rs",
            "//! x\nfn f(r: axum::Router) {}\n",
            "`axum`",
        ),
        (
            "src/pull/x.rs",
            "//! x\nuse async_graphql_axum::GraphQL;\n",
            "`async_graphql_axum`",
        ),
        (
            "src/store/x.rs",
            "//! x\nlet s = \"CONNECTED\";\n",
            "\"CONNECTED\"",
        ),
        (
            "src/graphql/x.rs",
            "//! x\nif s == r#\"PAID\"# {}\n",
            "\"PAID\"",
        ),
    ];
    let cites = format!("//! x ({}.md §9.1).\n", "DESIGN");
    for (path, text, rule) in planted
        .into_iter()
        .chain([("src/pull/x.rs", cites.as_str(), ".md,")])
    {
        let found = violations(path, text, &words);
        assert!(
            found.iter().any(|v| v.contains(rule)),
            "{path} {text:?} should break {rule}: {found:?}"
        );
    }
    // Allowed where the rule says so, and never in comments or inside longer words.
    let allowed = [
        ("src/store/x.rs", "//! x\nuse entity::event;\n"),
        ("src/http/x.rs", "//! x\nuse axum::Router;\n"),
        ("src/domain/x.rs", "//! x\nlet s = \"CONNECTED\";\n"),
        (
            "src/pull/x.rs",
            "//! x\n// axum::Router and entity::x are named in a comment\n",
        ),
        (
            "src/pull/x.rs",
            "//! x\nuse sea_orm::entity::prelude::*;\nlet s = \"NOT CONNECTED\";\n",
        ),
        (
            "src/pull/x.rs",
            "//! x\nlet s = \"axum::Router\";\nlet c = '\"';\n",
        ),
    ];
    for (path, text) in allowed {
        assert_eq!(
            violations(path, text, &words),
            Vec::<String>::new(),
            "{text}"
        );
    }
}
