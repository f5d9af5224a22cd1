//! Members from an iterator of profiles: the embedding API.

use liveramp_identity_mapping::Profile;

use super::{MemberChunk, MemberSource, SourceFailure};
use crate::members::MemberFault;

/// Members from any iterator of `Result<Profile, E>`: an `Ok` is a member, an `Err` a
/// malformed member counted and reported by its 1-based position, unless
/// [`MemberFault::is_source_failure`] says the source itself failed (the delivery then stops
/// and publishes nothing). The profiles are already parsed, so the workers map, normalise,
/// hash and render them on every core.
pub struct ProfileSource<I> {
    members: I,
}

impl<I> ProfileSource<I> {
    /// Members from `members`.
    pub fn new<T>(members: T) -> Self
    where
        T: IntoIterator<IntoIter = I>,
    {
        ProfileSource {
            members: members.into_iter(),
        }
    }
}

impl<I, E> MemberSource for ProfileSource<I>
where
    I: Iterator<Item = Result<Profile, E>>,
    E: MemberFault,
{
    fn fill(&mut self, chunk: &mut MemberChunk) -> Result<bool, SourceFailure> {
        while !chunk.is_full() {
            match self.members.next() {
                None => return Ok(false),
                Some(Ok(profile)) => chunk.push_profile(profile),
                Some(Err(e)) if e.is_source_failure() => {
                    return Err(SourceFailure::new(e.to_string()));
                }
                Some(Err(e)) => chunk.push_malformed(e.to_string()),
            }
        }
        Ok(true)
    }
}
