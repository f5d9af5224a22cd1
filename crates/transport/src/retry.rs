//! The retry policy, the retry loop every transport shares, and duration parsing.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::Receipt;
use crate::error::{Error, Result};

/// Runs `attempt` (given the attempt number, from 1) until it succeeds, fails permanently (an
/// error whose [`Error::is_transient`] is false), or the policy's attempts are used up, sleeping
/// the policy's delay between attempts. The returned receipt carries the attempt count and the
/// time since the first attempt; when every attempt failed transiently the error is
/// [`Error::RetriesExhausted`].
pub fn retry(
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

/// How transient failures are retried: `attempts` tries in all, waiting an exponentially
/// growing delay between them (`initial_backoff`, doubled each time, capped at `max_backoff`),
/// with random jitter (each wait is drawn uniformly between half the delay and the full delay)
/// so that many clients do not retry in lockstep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, including the first (default 5; 1 means no retry).
    pub attempts: u32,
    /// The delay before the first retry (default 2 s).
    #[serde(with = "crate::duration_serde")]
    pub initial_backoff: Duration,
    /// The longest delay between attempts (default 2 min).
    #[serde(with = "crate::duration_serde")]
    pub max_backoff: Duration,
    /// Randomise each delay (default `true`).
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(120),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// A policy of `attempts` tries with the given initial and maximum delay, with jitter.
    pub fn new(attempts: u32, initial_backoff: Duration, max_backoff: Duration) -> Self {
        RetryPolicy {
            attempts,
            initial_backoff,
            max_backoff,
            jitter: true,
        }
    }

    /// A policy that never retries.
    pub fn no_retry() -> Self {
        RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// Checks the policy: at least one attempt, and `max_backoff` not below
    /// `initial_backoff`.
    pub fn validate(&self) -> Result<()> {
        if self.attempts == 0 {
            return Err(Error::InvalidSettings(
                "`retry.attempts` is 0: it counts the first attempt, so use at least 1".to_owned(),
            ));
        }
        if self.max_backoff < self.initial_backoff {
            return Err(Error::InvalidSettings(
                "`retry.max_backoff` is smaller than `retry.initial_backoff`".to_owned(),
            ));
        }
        Ok(())
    }

    /// The delay before attempt `next` (2 for the first retry), before jitter.
    pub fn backoff(&self, next: u32) -> Duration {
        let doublings = next.saturating_sub(2).min(30);
        self.initial_backoff
            .saturating_mul(1u32 << doublings)
            .min(self.max_backoff)
    }

    /// The delay to actually wait before attempt `next`, jitter applied.
    pub fn delay(&self, next: u32) -> Duration {
        let full = self.backoff(next);
        if !self.jitter || full.is_zero() {
            return full;
        }
        let half = full / 2;
        half + full.mul_f64(rand::random::<f64>() * 0.5)
    }
}

/// Serde helpers for durations given as seconds (integer or fraction) or strings like `"30s"`,
/// `"500ms"`, `"2m"` (`#[serde(with = "liveramp_transport::duration_serde")]`).
pub mod duration_serde {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the duration as seconds (a float).
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    /// Reads seconds (integer or fraction) or a string such as `"30s"`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Value {
            Int(u64),
            Float(f64),
            Text(String),
        }
        let bad = |what: &str| {
            serde::de::Error::custom(format!(
                "invalid duration `{what}`: use seconds (e.g. 30) or `30s`, `500ms`, `2m`"
            ))
        };
        match Value::deserialize(d)? {
            Value::Int(n) => Ok(Duration::from_secs(n)),
            Value::Float(f) => Duration::try_from_secs_f64(f).map_err(|_| bad(&f.to_string())),
            Value::Text(t) => super::parse_duration(&t).ok_or_else(|| bad(&t)),
        }
    }
}

/// Reads a duration written as a number and a unit: `500ms`, `30s` (also `sec`, `secs`), `2m`
/// (`min`, `mins`) or `1h`; `None` for anything else.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = t.split_at(split);
    let n: f64 = number.parse().ok()?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" | "sec" | "secs" => n,
        "m" | "min" | "mins" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let r = RetryPolicy::default();
        assert_eq!(r.backoff(2), Duration::from_secs(2));
        assert_eq!(r.backoff(3), Duration::from_secs(4));
        assert_eq!(r.backoff(4), Duration::from_secs(8));
        assert_eq!(r.backoff(9), Duration::from_secs(120));
        assert_eq!(r.backoff(100), Duration::from_secs(120));
        for n in 2..10 {
            let d = r.delay(n);
            assert!(d >= r.backoff(n) / 2 && d <= r.backoff(n), "{d:?}");
        }
    }

    #[test]
    fn durations_as_text() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration(" 2m "), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("30"), None);
        assert_eq!(parse_duration("3 weeks"), None);
    }
}
