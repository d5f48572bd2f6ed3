//! The server's [`Authenticate`] implementation: the service key first (constant-time), then
//! access tokens through `identity`.

use mb_core::{ApiError, Authenticate, Caller};
use subtle::ConstantTimeEq;

/// Service key + identity.
pub struct ServerAuthenticator {
    service_key: Option<Vec<u8>>,
    identity: identity::Identity,
}

impl ServerAuthenticator {
    /// From the configured service key (empty = no service access) and identity service.
    pub fn new(service_key: &str, identity: identity::Identity) -> Self {
        ServerAuthenticator {
            service_key: (!service_key.is_empty()).then(|| service_key.as_bytes().to_vec()),
            identity,
        }
    }
}

impl Authenticate for ServerAuthenticator {
    fn authenticate(&self, bearer: &str) -> Result<Caller, ApiError> {
        if let Some(key) = &self.service_key {
            if key.len() == bearer.len() && bool::from(key.as_slice().ct_eq(bearer.as_bytes())) {
                return Ok(Caller::Service);
            }
        }
        self.identity.verify_access(bearer).map(Caller::User)
    }
}
