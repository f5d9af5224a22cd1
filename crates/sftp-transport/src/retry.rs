//! The retry loop shared by both transports.

use std::time::Instant;

use crate::Receipt;
use crate::error::{Error, Result};
use crate::settings::RetryPolicy;

/// Runs `attempt` (given the attempt number, from 1) until it succeeds, fails permanently, or
/// the policy's attempts are used up, sleeping the policy's delay between attempts.
pub(crate) fn run(
    policy: &RetryPolicy,
    what: &str,
    mut attempt: impl FnMut(u32) -> Result<Receipt>,
) -> Result<Receipt> {
    let started = Instant::now();
    let mut n = 1;
    loop {
        match attempt(n) {
            Ok(mut receipt) => {
                receipt.attempts = n;
                receipt.duration = started.elapsed();
                return Ok(receipt);
            }
            Err(e) if e.is_transient() && n < policy.attempts => {
                let delay = policy.delay(n + 1);
                tracing::warn!(
                    "{what}: attempt {n} of {} failed: {e}; retrying in {:.1} s",
                    policy.attempts,
                    delay.as_secs_f64()
                );
                std::thread::sleep(delay);
                n += 1;
            }
            Err(e) if e.is_transient() && n > 1 => {
                return Err(Error::RetriesExhausted {
                    attempts: n,
                    last: Box::new(e),
                });
            }
            Err(e) => return Err(e),
        }
    }
}
