//! A run of the whole chain: base credentials, then one `AssumeRole` per hop, each signed with the
//! credentials of the hop before.
//!
//! Each hop's credentials are kept, so that a run starts at the first hop whose signer is no
//! longer fresh: refreshing the last hop of a chain whose earlier hops are still valid costs one
//! STS call.

use std::sync::Mutex;
use std::time::SystemTime;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_smithy_async::time::SharedTimeSource;
use tracing::debug;

use crate::assume::Hop;
use crate::cache::is_fresh;
use crate::error::{Error, ErrorKind};

#[derive(Clone)]
struct Held {
    credentials: Credentials,
    fetched_at: SystemTime,
}

pub(crate) struct Chain {
    sts: aws_sdk_sts::Client,
    base: SharedCredentialsProvider,
    hops: Vec<Hop>,
    held: Mutex<Vec<Option<Held>>>,
    time: SharedTimeSource,
}

impl Chain {
    pub(crate) fn new(
        sts: aws_sdk_sts::Client,
        base: SharedCredentialsProvider,
        hops: Vec<Hop>,
        time: SharedTimeSource,
    ) -> Self {
        let held = Mutex::new(vec![None; hops.len()]);
        Chain {
            sts,
            base,
            hops,
            held,
            time,
        }
    }

    pub(crate) fn hops(&self) -> &[Hop] {
        &self.hops
    }

    /// Fetches the last hop's credentials, reusing the held credentials of earlier hops while
    /// they are fresh.
    pub(crate) async fn run(&self) -> Result<Credentials, Error> {
        let now = self.time.now();
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let last = self.hops.len() - 1;
        let reusable = (0..last).rev().find_map(|i| {
            held[i]
                .as_ref()
                .filter(|h| {
                    h.credentials
                        .expiry()
                        .is_some_and(|exp| is_fresh(h.fetched_at, exp, now))
                })
                .map(|h| (i + 1, h.credentials.clone()))
        });
        let (start, mut signer) = match reusable {
            Some(found) => {
                debug!(
                    from_hop = found.0,
                    "reusing the held credentials of the earlier hops"
                );
                found
            }
            None => (0, self.base_credentials().await?),
        };
        for hop in &self.hops[start..] {
            let fetched_at = self.time.now();
            let credentials = hop.assume(&self.sts, signer, fetched_at).await?;
            self.held.lock().unwrap_or_else(|e| e.into_inner())[hop.index] = Some(Held {
                credentials: credentials.clone(),
                fetched_at,
            });
            signer = credentials;
        }
        Ok(signer)
    }

    async fn base_credentials(&self) -> Result<Credentials, Error> {
        self.base.provide_credentials().await.map_err(|err| {
            Error::new(
                ErrorKind::BaseCredentials,
                "the base credentials provider failed",
            )
            .with_source(err)
        })
    }
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("base", &self.base)
            .field("hops", &self.hops)
            .finish_non_exhaustive()
    }
}
