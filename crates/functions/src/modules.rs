//! `require()` resolution confined to one function's folder, and the fingerprint of the files an
//! instance loaded (how hot reload notices an edit).
//!
//! Resolution follows Node's rules for what a CloudBase function uses: relative paths (`./a`,
//! `../lib/b`, trying `.js`, `.json`, `package.json` `main` and `index.js`), and bare names
//! looked up in `node_modules` folders between the requiring file and the function's root.
//! Absolute paths, and any path that leaves the folder — lexically (`../../x`) or through a
//! symlink — are refused with a clear error.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

/// The largest source file `require` reads.
pub const MAX_SOURCE_BYTES: u64 = 8 << 20;

/// Why a `require` failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ResolveError {
    /// Nothing at the path (Node's `MODULE_NOT_FOUND`).
    NotFound(String),
    /// The path leaves the function's folder.
    Outside(String),
}

impl ResolveError {
    /// The JavaScript error message.
    pub fn message(&self) -> &str {
        match self {
            ResolveError::NotFound(m) | ResolveError::Outside(m) => m,
        }
    }
    /// The `code` property of the JavaScript error.
    pub fn code(&self) -> &'static str {
        match self {
            ResolveError::NotFound(_) => "MODULE_NOT_FOUND",
            ResolveError::Outside(_) => "ERR_REQUIRE_OUTSIDE_FUNCTION",
        }
    }
}

/// Removes `.` and resolves `..` without touching the file system. `None` if `..` would climb
/// above the start.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir => out.push("/"),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(s) => out.push(s),
            Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// The resolver of one function (`root` is its canonical folder).
#[derive(Debug, Clone)]
pub struct Resolver {
    root: PathBuf,
}

impl Resolver {
    /// A resolver for the canonical folder `root`.
    pub fn new(root: PathBuf) -> Self {
        Resolver { root }
    }

    /// The function's canonical folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether `path` (already normalized or canonical) is inside the folder.
    pub fn contains(&self, path: &Path) -> bool {
        path.starts_with(&self.root)
    }

    /// Resolves `spec` as required from a module in `from_dir`. Every path looked at is given
    /// to `probe` (with whether it exists), so a fingerprint can notice files that appear later.
    pub fn resolve(
        &self,
        from_dir: &Path,
        spec: &str,
        probe: &mut dyn FnMut(&Path, bool),
    ) -> Result<PathBuf, ResolveError> {
        let not_found = || ResolveError::NotFound(format!("Cannot find module '{spec}'"));
        let outside = || {
            ResolveError::Outside(format!(
                "require('{spec}') is refused: a function may only require files inside its own folder"
            ))
        };
        if spec.contains('\0') || spec.contains('\\') {
            return Err(not_found());
        }
        if spec.starts_with('/') {
            return Err(outside());
        }
        let from_dir = normalize(from_dir).ok_or_else(outside)?;
        if !self.contains(&from_dir) {
            return Err(outside());
        }
        let relative =
            spec == "." || spec == ".." || spec.starts_with("./") || spec.starts_with("../");
        if relative {
            let target = normalize(&from_dir.join(spec)).ok_or_else(outside)?;
            if !self.contains(&target) {
                return Err(outside());
            }
            return self.load_path(&target, probe)?.ok_or_else(not_found);
        }
        // A bare name: node_modules folders from `from_dir` up to the root.
        let mut dir = Some(from_dir.as_path());
        while let Some(d) = dir {
            if !self.contains(d) {
                break;
            }
            let nm = d.join("node_modules");
            let target = normalize(&nm.join(spec)).ok_or_else(outside)?;
            if !target.starts_with(&nm) {
                return Err(outside());
            }
            if let Some(found) = self.load_exports(&nm, spec, probe)? {
                return Ok(found);
            }
            if let Some(found) = self.load_path(&target, probe)? {
                return Ok(found);
            }
            dir = d.parent();
        }
        Err(not_found())
    }

    /// A package's `exports` map (Node's PACKAGE_EXPORTS_RESOLVE, with the conditions
    /// `require`, `node` and `default`, exact subpaths only): the file for `spec` (`pkg` or
    /// `pkg/sub`, scoped names too) in `nm`, if the package has such a map and an entry for it.
    fn load_exports(
        &self,
        nm: &Path,
        spec: &str,
        probe: &mut dyn FnMut(&Path, bool),
    ) -> Result<Option<PathBuf>, ResolveError> {
        let mut parts = spec.splitn(if spec.starts_with('@') { 3 } else { 2 }, '/');
        let pkg = match (spec.starts_with('@'), parts.next(), parts.next()) {
            (true, Some(scope), Some(name)) => format!("{scope}/{name}"),
            (false, Some(name), _) => name.to_string(),
            _ => return Ok(None),
        };
        let sub = spec[pkg.len()..].trim_start_matches('/');
        let dir = nm.join(&pkg);
        let Ok(text) = fs::read_to_string(dir.join("package.json")) else {
            return Ok(None);
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            return Ok(None);
        };
        let Some(exports) = v.get("exports") else {
            return Ok(None);
        };
        let key = if sub.is_empty() {
            ".".to_string()
        } else {
            format!("./{sub}")
        };
        let entry = match exports {
            serde_json::Value::Object(m) if m.keys().any(|k| k.starts_with('.')) => m.get(&key),
            other if key == "." => Some(other),
            _ => None,
        };
        let Some(rel) = entry.and_then(conditional_target) else {
            return Ok(None);
        };
        let Some(file) = normalize(&dir.join(rel)) else {
            return Ok(None);
        };
        if !file.starts_with(&dir) {
            return Ok(None);
        }
        probe(&dir.join("package.json"), true);
        self.load_path(&file, probe)
    }

    /// Node's LOAD_AS_FILE then LOAD_AS_DIRECTORY for `target`.
    fn load_path(
        &self,
        target: &Path,
        probe: &mut dyn FnMut(&Path, bool),
    ) -> Result<Option<PathBuf>, ResolveError> {
        let name = target.to_string_lossy().into_owned();
        let mut candidates = vec![
            target.to_path_buf(),
            PathBuf::from(format!("{name}.js")),
            PathBuf::from(format!("{name}.json")),
        ];
        let pkg = target.join("package.json");
        if let Ok(text) = fs::read_to_string(&pkg) {
            probe(&pkg, true);
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                if let Some(main) = v.get("main").and_then(|m| m.as_str()) {
                    if let Some(m) = normalize(&target.join(main)) {
                        if self.contains(&m) {
                            let s = m.to_string_lossy().into_owned();
                            candidates.push(m.clone());
                            candidates.push(PathBuf::from(format!("{s}.js")));
                            candidates.push(m.join("index.js"));
                        }
                    }
                }
            }
        }
        candidates.push(target.join("index.js"));
        candidates.push(target.join("index.json"));
        for c in candidates {
            match fs::metadata(&c) {
                Ok(m) if m.is_file() => {
                    let real = fs::canonicalize(&c).map_err(|_| {
                        ResolveError::NotFound(format!("Cannot find module '{}'", c.display()))
                    })?;
                    if !self.contains(&real) {
                        return Err(ResolveError::Outside(format!(
                            "require of '{}' is refused: it links outside the function's folder",
                            c.file_name()
                                .map(|f| f.to_string_lossy().into_owned())
                                .unwrap_or_default()
                        )));
                    }
                    probe(&real, true);
                    return Ok(Some(real));
                }
                _ => probe(&c, false),
            }
        }
        Ok(None)
    }
}

/// The target of an `exports` entry for a CommonJS `require`: a string, or the first of the
/// `require`, `node`, `default` conditions (nested conditions too; arrays: the first usable).
fn conditional_target(v: &serde_json::Value) -> Option<&str> {
    match v {
        serde_json::Value::String(s) => Some(s.as_str()),
        serde_json::Value::Array(items) => items.iter().find_map(conditional_target),
        serde_json::Value::Object(m) => m
            .iter()
            .filter(|(k, _)| matches!(k.as_str(), "require" | "node" | "default"))
            .find_map(|(_, x)| conditional_target(x)),
        _ => None,
    }
}

/// What identifies a file's content without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stamp {
    len: u64,
    mtime_ns: i128,
    ino: u64,
}

/// The stamp of `path`, or `None` if there is no file.
pub fn stamp(path: &Path) -> Option<Stamp> {
    let m = fs::metadata(path).ok()?;
    if !m.is_file() {
        return None;
    }
    Some(Stamp {
        len: m.len(),
        mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        ino: m.ino(),
    })
}

/// How often files under `node_modules` are re-checked (the function's own files are checked
/// before every call).
const DEPS_CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// The files one loaded version depends on, with their stamps (`None`: must stay absent).
#[derive(Debug, Clone, Default)]
pub struct Fingerprint {
    own: Vec<(PathBuf, Option<Stamp>)>,
    deps: Vec<(PathBuf, Option<Stamp>)>,
    deps_checked: Option<Instant>,
    /// A hash of `own` (paths and stamps), computed when first asked for.
    key: Option<u64>,
}

impl Fingerprint {
    /// Records a path with its current stamp (once per path).
    pub fn record(&mut self, path: &Path, stamp: Option<Stamp>) {
        let is_dep = path.components().any(|c| c.as_os_str() == "node_modules");
        let list = if is_dep {
            &mut self.deps
        } else {
            &mut self.own
        };
        if list.iter().any(|(p, _)| p == path) {
            return;
        }
        list.push((path.to_path_buf(), stamp));
        if !is_dep {
            self.key = None;
        }
    }

    /// What identifies the recorded own files and their stamps: two fingerprints with the
    /// same key are unchanged together (see `WorkerConfig::unchanged_since`).
    pub fn key(&mut self) -> u64 {
        use std::hash::{Hash, Hasher};
        *self.key.get_or_insert_with(|| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            self.own.hash(&mut h);
            h.finish()
        })
    }

    /// Whether `changed` would look at the dependencies now.
    pub fn deps_due(&self, now: Instant) -> bool {
        !self.deps.is_empty()
            && self
                .deps_checked
                .is_none_or(|t| now.duration_since(t) >= DEPS_CHECK_INTERVAL)
    }

    /// Whether any recorded file changed, appeared or disappeared.
    pub fn changed(&mut self) -> bool {
        if self.own.iter().any(|(p, s)| stamp(p) != *s) {
            return true;
        }
        let now = Instant::now();
        if self
            .deps_checked
            .is_none_or(|t| now.duration_since(t) >= DEPS_CHECK_INTERVAL)
        {
            self.deps_checked = Some(now);
            return self.deps.iter().any(|(p, s)| stamp(p) != *s);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Resolver) {
        let dir = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(dir.path()).unwrap();
        let f = base.join("fn");
        fs::create_dir_all(f.join("lib")).unwrap();
        fs::create_dir_all(f.join("node_modules/pkg/dist")).unwrap();
        fs::create_dir_all(f.join("node_modules/@s/p")).unwrap();
        fs::write(f.join("index.js"), "").unwrap();
        fs::write(f.join("lib/a.js"), "").unwrap();
        fs::write(f.join("lib/data.json"), "{}").unwrap();
        fs::write(f.join("lib/index.js"), "").unwrap();
        fs::write(
            f.join("node_modules/pkg/package.json"),
            r#"{"main":"dist/main"}"#,
        )
        .unwrap();
        fs::write(f.join("node_modules/pkg/dist/main.js"), "").unwrap();
        fs::write(f.join("node_modules/@s/p/index.js"), "").unwrap();
        fs::write(base.join("secret.js"), "").unwrap();
        (dir, Resolver::new(f))
    }

    #[test]
    fn resolves_like_node_inside_the_folder() {
        let (_d, r) = setup();
        let root = r.root().to_path_buf();
        let mut probe = |_: &Path, _: bool| {};
        assert_eq!(
            r.resolve(&root, "./index.js", &mut probe).unwrap(),
            root.join("index.js")
        );
        assert_eq!(
            r.resolve(&root, "./lib/a", &mut probe).unwrap(),
            root.join("lib/a.js")
        );
        assert_eq!(
            r.resolve(&root, "./lib", &mut probe).unwrap(),
            root.join("lib/index.js")
        );
        assert_eq!(
            r.resolve(&root.join("lib"), "./data.json", &mut probe)
                .unwrap(),
            root.join("lib/data.json")
        );
        assert_eq!(
            r.resolve(&root.join("lib"), "../index", &mut probe)
                .unwrap(),
            root.join("index.js")
        );
        assert_eq!(
            r.resolve(&root.join("lib"), "pkg", &mut probe).unwrap(),
            root.join("node_modules/pkg/dist/main.js")
        );
        assert_eq!(
            r.resolve(&root, "@s/p", &mut probe).unwrap(),
            root.join("node_modules/@s/p/index.js")
        );
        assert!(matches!(
            r.resolve(&root, "./nope", &mut probe),
            Err(ResolveError::NotFound(_))
        ));
        assert!(matches!(
            r.resolve(&root, "nope", &mut probe),
            Err(ResolveError::NotFound(_))
        ));
    }

    #[test]
    fn package_exports_pick_the_require_condition() {
        let (_d, r) = setup();
        let root = r.root().to_path_buf();
        let pkg = root.join("node_modules/modern");
        fs::create_dir_all(pkg.join("dist/node")).unwrap();
        fs::write(
            pkg.join("package.json"),
            r#"{"main": "index.js", "type": "module", "exports": {".": {"types": "./i.d.ts", "browser": {"require": "./dist/browser.cjs"}, "node": {"import": "./index.js", "require": "./dist/node/m.cjs"}, "default": "./index.js"}, "./extra": "./dist/extra.js", "./package.json": "./package.json"}}"#,
        )
        .unwrap();
        fs::write(pkg.join("index.js"), "export default 1").unwrap();
        fs::write(pkg.join("dist/node/m.cjs"), "").unwrap();
        fs::write(pkg.join("dist/extra.js"), "").unwrap();
        let mut probe = |_: &Path, _: bool| {};
        assert_eq!(
            r.resolve(&root, "modern", &mut probe).unwrap(),
            pkg.join("dist/node/m.cjs")
        );
        assert_eq!(
            r.resolve(&root, "modern/extra", &mut probe).unwrap(),
            pkg.join("dist/extra.js")
        );
        assert_eq!(
            conditional_target(&serde_json::json!("./a.js")),
            Some("./a.js")
        );
        assert_eq!(
            conditional_target(&serde_json::json!({"import": "./a.mjs", "default": "./a.js"})),
            Some("./a.js")
        );
    }

    #[test]
    fn refuses_to_leave_the_folder() {
        let (_d, r) = setup();
        let root = r.root().to_path_buf();
        let mut probe = |_: &Path, _: bool| {};
        for spec in [
            "../secret.js",
            "../secret",
            "./lib/../../secret.js",
            "/etc/passwd",
            "pkg/../../../secret.js",
        ] {
            let e = r.resolve(&root, spec, &mut probe).unwrap_err();
            assert!(matches!(e, ResolveError::Outside(_)), "{spec}: {e:?}");
        }
        // Through a symlink.
        std::os::unix::fs::symlink(
            root.parent().unwrap().join("secret.js"),
            root.join("link.js"),
        )
        .unwrap();
        let e = r.resolve(&root, "./link.js", &mut probe).unwrap_err();
        assert!(matches!(e, ResolveError::Outside(_)), "{e:?}");
    }

    #[test]
    fn fingerprint_notices_edits_and_new_files() {
        let (_d, r) = setup();
        let root = r.root().to_path_buf();
        let mut fp = Fingerprint::default();
        let a = root.join("lib/a.js");
        fp.record(&a, stamp(&a));
        let missing = root.join("lib/b.js");
        fp.record(&missing, stamp(&missing));
        assert!(!fp.changed());
        fs::write(&missing, "x").unwrap();
        assert!(fp.changed());
        let mut fp = Fingerprint::default();
        fp.record(&a, stamp(&a));
        fs::write(&a, "changed").unwrap();
        assert!(fp.changed());
    }
}
