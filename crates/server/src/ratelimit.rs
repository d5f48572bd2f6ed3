//! Per-client-IP token buckets (`limits.rate_per_ip`, `limits.rate_burst`). Sharded maps so
//! concurrent requests rarely contend; idle full buckets are swept so a scan from many
//! addresses cannot grow memory without bound.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

const SHARDS: usize = 16;
const SWEEP_AT: usize = 50_000;

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets by IP.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    shards: Vec<Mutex<HashMap<IpAddr, Bucket>>>,
}

impl RateLimiter {
    /// `rate` tokens per second, buckets of `burst`.
    pub fn new(rate: u32, burst: u32) -> Self {
        RateLimiter {
            rate: rate.max(1) as f64,
            burst: burst.max(1) as f64,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, ip: &IpAddr) -> &Mutex<HashMap<IpAddr, Bucket>> {
        let h = match ip {
            IpAddr::V4(v4) => u32::from(*v4) as usize,
            IpAddr::V6(v6) => (u128::from(*v6) >> 64) as usize ^ (u128::from(*v6) as usize),
        };
        &self.shards[h.wrapping_mul(0x9E37_79B9) % SHARDS]
    }

    /// Takes a token for `ip`; `Err(seconds)` to wait when the bucket is empty.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        self.check_at(ip, Instant::now())
    }

    fn check_at(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let mut map = self.shard(&ip).lock();
        if map.len() > SWEEP_AT / SHARDS {
            let (rate, burst) = (self.rate, self.burst);
            map.retain(|_, b| b.tokens + now.duration_since(b.last).as_secs_f64() * rate < burst);
        }
        let b = map.entry(ip).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let elapsed = now.duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_empties_and_refills() {
        let rl = RateLimiter::new(2, 4);
        let ip: IpAddr = "1.2.3.4".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..4 {
            assert!(rl.check_at(ip, t0).is_ok());
        }
        assert_eq!(rl.check_at(ip, t0), Err(1));
        assert!(rl.check_at("5.6.7.8".parse().unwrap(), t0).is_ok());
        assert!(rl.check_at(ip, t0 + Duration::from_millis(600)).is_ok());
        assert!(rl.check_at(ip, t0 + Duration::from_millis(600)).is_err());
    }
}
