//! Members from the audience store: a consistent snapshot of one audience.

use liveramp_audience_store::Snapshot;

use super::{MemberChunk, MemberSource, SourceFailure, SourceSummary};

/// Members of one audience from a store snapshot ([`liveramp_audience_store::Snapshot`]),
/// taken when the delivery starts: changes applied while it runs are not in it. The snapshot's
/// profile JSON lines go to the workers as they are, so the store feeds the same parallel
/// pipeline as a member file. The report records the snapshot's size and the newest change it
/// holds.
pub struct StoreSource {
    snapshot: Box<dyn Snapshot + Send>,
}

impl StoreSource {
    /// Members from `snapshot`.
    pub fn new(snapshot: Box<dyn Snapshot + Send>) -> Self {
        StoreSource { snapshot }
    }
}

impl MemberSource for StoreSource {
    fn fill(&mut self, chunk: &mut MemberChunk) -> Result<bool, SourceFailure> {
        let mut more = true;
        chunk.push_lines(|buf| {
            let room = super::CHUNK_BYTES.saturating_sub(buf.len()).max(1);
            let appended = self
                .snapshot
                .read_into(buf, room)
                .map_err(|e| SourceFailure::new(format!("the store snapshot failed: {e}")))?;
            more = appended > 0;
            Ok::<(), SourceFailure>(())
        })?;
        Ok(more)
    }

    fn summary(&self) -> Option<SourceSummary> {
        let summary = self.snapshot.summary();
        let mut out = SourceSummary::new(format!(
            "store snapshot of audience {}",
            summary.audience_id
        ));
        out.members = Some(summary.members);
        out.newest_change_ms = summary.newest_change_ms;
        Some(out)
    }
}
