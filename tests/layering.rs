//! The library's modules import only from modules below them in the data flow, so that the
//! layering ARCHITECTURE.md draws holds and no cycle can form. Each module's code (its tests
//! excepted, and comments, where doc links may point anywhere) is read for `crate::<module>`
//! paths, and each must name a module of a lower layer.

use std::path::Path;

/// The layers, lowest first. A module may import from any module of a lower layer.
const LAYERS: &[&[&str]] = &[
    &["time", "panic", "redact", "limits"],
    &["error"],
    &["role", "policy", "metrics"],
    &["classify", "mfa", "cache"],
    &["hop", "profile"],
    &["chain"],
    &["status"],
    &["provider"],
    &["builder"],
    &["server", "pool"],
    &["lib", "guide", "test_util"],
];

fn layer(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|layer| layer.contains(&module))
        .unwrap_or_else(|| panic!("module {module} has no layer in tests/layering.rs"))
}

/// `src/cache/snapshot.rs` belongs to `cache`, `src/lib.rs` to `lib`.
fn module_of(file: &Path, src: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    first.to_str().unwrap().trim_end_matches(".rs").to_owned()
}

/// The code of a file without its tests and comments.
fn code(text: &str) -> String {
    let before_tests = text.split("#[cfg(test)]").next().unwrap_or_default();
    before_tests
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modules named by `crate::<module>` paths in `code`, and any path through the crate's
/// root (`crate::Type`, `crate::{…}`), which hides the module it comes from.
fn imports(code: &str) -> Vec<String> {
    code.match_indices("crate::")
        .map(|(at, _)| {
            let rest = &code[at + "crate::".len()..];
            if rest.starts_with('{') {
                return "{".to_owned();
            }
            rest.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .collect()
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_imports_from_a_module_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut upward = Vec::new();
    let mut checked = 0;
    for file in all {
        let name = file.file_name().unwrap().to_str().unwrap();
        if name == "tests.rs"
            || name == "testing.rs"
            || file.components().any(|c| c.as_os_str() == "tests")
        {
            continue;
        }
        let module = module_of(&file, &src);
        let text = std::fs::read_to_string(&file).unwrap();
        for imported in imports(&code(&text)) {
            checked += 1;
            let first = imported.chars().next().unwrap_or('{');
            if first == '{' || first.is_uppercase() {
                upward.push(format!(
                    "{}: crate::{imported} (name the module instead of the root)",
                    file.display()
                ));
            } else if imported != module && layer(&imported) >= layer(&module) {
                upward.push(format!(
                    "{}: crate::{imported} from {module}",
                    file.display()
                ));
            }
        }
    }
    assert!(
        checked > 30,
        "only {checked} imports found: is the reading broken?"
    );
    assert!(
        upward.is_empty(),
        "imports against the layering:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_check_sees_an_upward_import() {
    let code = code("use crate::provider::RoleChainProvider;\n// crate::builder in a comment\n");
    assert_eq!(imports(&code), ["provider"]);
    assert!(
        layer("provider") >= layer("cache"),
        "cache importing provider would be caught"
    );
    assert_eq!(imports("use crate::{Error, RoleChainProvider};"), ["{"]);
}
