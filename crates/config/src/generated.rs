//! Secrets Minibase generates for itself when the config leaves them empty (the JWT secret,
//! the temp-URL signing secret, …): random, written once to `<data_dir>/secrets/<name>` with
//! mode 0600 in a 0700 directory, and read back on every later start so tokens and URLs stay
//! valid across restarts. Several instances must share the value: then set it in config.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The file a generated secret lives in.
pub fn secret_path(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join("secrets").join(name)
}

/// Reads `<data_dir>/secrets/<name>`, creating it with 32 random bytes (64 hex chars) first if
/// it does not exist.
pub fn load_or_generate(data_dir: &Path, name: &str) -> std::io::Result<String> {
    let path = secret_path(data_dir, name);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let v = existing.trim().to_string();
        if v.len() >= 32 {
            return Ok(v);
        }
        return Err(std::io::Error::other(format!(
            "{} is too short (corrupt?): delete it to generate a new one",
            path.display()
        )));
    }
    let dir = data_dir.join("secrets");
    std::fs::create_dir_all(&dir)?;
    set_mode(&dir, 0o700)?;
    let mut bytes = [0u8; 32];
    getrandom(&mut bytes)?;
    let value: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // Write to a temp file with 0600 from the start, then rename: never a readable window,
    // never a half-written secret.
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(value.as_bytes())?;
        f.sync_all()?;
    }
    // Another process may have raced us: keep whichever landed first.
    match std::fs::hard_link(&tmp, &path) {
        Ok(()) => {
            let _ = std::fs::remove_file(&tmp);
            Ok(value)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let _ = std::fs::remove_file(&tmp);
            Ok(std::fs::read_to_string(&path)?.trim().to_string())
        }
        Err(e) => Err(e),
    }
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    let _ = (path, mode);
    Ok(())
}

fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = super::load_or_generate(dir.path(), "jwt_secret").unwrap();
        let b = super::load_or_generate(dir.path(), "jwt_secret").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let p = super::secret_path(dir.path(), "jwt_secret");
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
            let d = p.parent().unwrap();
            assert_eq!(
                std::fs::metadata(d).unwrap().permissions().mode() & 0o777,
                0o700
            );
        }
    }
}
