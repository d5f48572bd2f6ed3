//! Writing generated files under `server.data_dir`: atomically (write a temporary file, then
//! rename, so a crash never leaves half a key), private keys with mode 0600 and their
//! directories 0700.

use crate::EdgeError;
use std::io::Write;
use std::path::Path;

/// Creates `dir` (and parents); a directory we create for secrets is 0700.
pub(crate) fn private_dir(dir: &Path) -> Result<(), EdgeError> {
    std::fs::create_dir_all(dir).map_err(|e| EdgeError::data_dir(dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically; `secret` files get mode 0600 from the start.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], secret: bool) -> Result<(), EdgeError> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if secret { 0o600 } else { 0o644 });
    }
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        EdgeError::data_dir(path, e)
    })
}
