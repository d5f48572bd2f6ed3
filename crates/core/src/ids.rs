//! Identifiers. Document ids are 32 lowercase hex characters like CloudBase's, and sort by
//! creation time: 12 hex of milliseconds, 4 of a per-process sequence, 16 random.

use rand::RngCore;
use std::sync::atomic::{AtomicU32, Ordering};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A new time-sortable document id (32 hex chars).
pub fn new_doc_id() -> String {
    let ms = crate::now_ms().max(0) as u64 & 0xffff_ffff_ffff;
    let seq = SEQ.fetch_add(1, Ordering::Relaxed) & 0xffff;
    let mut rnd = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut rnd);
    let mut s = format!("{ms:012x}{seq:04x}");
    for b in rnd {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// `n` random bytes from the OS CSPRNG, hex encoded (tokens, secrets, nonces).
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// `n` random alphanumeric characters (nonces as WeChat Pay expects them).
pub fn random_alnum(n: usize) -> String {
    use rand::Rng;
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rngs::OsRng;
    (0..n)
        .map(|_| ABC[rng.gen_range(0..ABC.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_hex_sortable_and_unique() {
        let a = super::new_doc_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = super::new_doc_id();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(a < b);
        assert_ne!(a, b);
    }
}
