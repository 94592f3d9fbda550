//! `provider: kubernetes` (reference §6): no L7 routing. Flagger's no-op router: the split always
//! reads 100/0 and setting it changes nothing; traffic moves when the primary is promoted, because
//! the apex Service selects the primary's pods (blue/green).

use super::{ALL_PRIMARY, TrafficRouter};
use crate::error::Error;
use crate::k8s::desired::{InitStep, Read};
use crate::rollout::Routes;
use std::time::Duration;

/// The router without route objects.
pub struct NoL7;

#[async_trait::async_trait]
impl TrafficRouter for NoL7 {
    async fn initialization(&self, _read: &dyn Read) -> Result<Vec<InitStep<'_>>, Error> {
        Ok(Vec::new())
    }

    async fn routes(&self, _client: &kube::Client, _wait: Duration) -> Result<Routes, Error> {
        Ok(ALL_PRIMARY)
    }

    async fn set_routes(
        &self,
        _client: &kube::Client,
        _split: Routes,
        _revision: Option<&str>,
    ) -> Result<(), Error> {
        Ok(())
    }

    fn remembers_writes(&self) -> bool {
        true
    }
}
