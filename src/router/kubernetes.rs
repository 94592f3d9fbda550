//! `provider: kubernetes` (reference §6): no L7 routing. Flagger's no-op router: the split always
//! reads 100/0 and setting it changes nothing; traffic moves when the primary is promoted, because
//! the apex Service selects the primary's pods (blue/green).

use crate::rollout::Routes;

/// The split a no-L7 router reports.
pub fn routes() -> Routes {
    Routes {
        primary: 100,
        canary: 0,
        mirrored: false,
    }
}
