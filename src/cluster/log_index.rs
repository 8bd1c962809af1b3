//! Where a run's log lies in the log stream. The worker running a job notes, for the
//! batches it publishes, the first line's `seq` and the batch's stream sequence, and
//! stores some of them in the job's document (`RunHold::log_index`); any worker
//! reading a page starts at the batch that holds its cursor, so a page costs what the
//! page costs, not what the log before it costs.

/// Entries kept at most: one per batch for a log of 100,000 lines in 200-line batches,
/// so a page reads the batch of its cursor and rarely one more, and the document
/// stays small (about 16 bytes an entry; a default log of 10,000 lines needs 50).
const MOST: usize = 512;

/// The running worker's side: the entries for the batches published so far.
pub(super) struct LogIndex {
    entries: Vec<(u64, u64)>,
    /// Lines kept per job (COREBUILD_LOG_LINES): entries for older lines go.
    keep: u64,
}

impl LogIndex {
    pub(super) fn new(keep: usize) -> Self {
        Self {
            entries: Vec::new(),
            keep: u64::try_from(keep).unwrap_or(u64::MAX),
        }
    }

    /// A batch whose first line is `first_line` was stored at `stream_seq`; the log's
    /// next line is `next_line`.
    pub(super) fn record(&mut self, first_line: u64, stream_seq: u64, next_line: u64) {
        if self
            .entries
            .last()
            .is_some_and(|&(_, seq)| seq >= stream_seq)
        {
            // The stream was made again: the old sequences mean nothing now.
            self.entries.clear();
        }
        self.entries.push((first_line, stream_seq));
        // The oldest entry goes once the next one is still at or before the first kept
        // line.
        let first_kept = next_line.saturating_sub(self.keep);
        while self.entries.len() > 1 && self.entries[1].0 <= first_kept {
            self.entries.remove(0);
        }
        if self.entries.len() > MOST {
            // Every other one goes; the newest stays.
            let newest = self.entries.pop();
            let mut n = 0;
            self.entries.retain(|_| {
                n += 1;
                n % 2 == 1
            });
            self.entries.extend(newest);
        }
    }

    pub(super) fn entries(&self) -> &[(u64, u64)] {
        &self.entries
    }
}

/// The stream sequence to start reading at for the line `line`: that of the newest
/// entry at or before it, or 0 (the log's first batch) when there is none.
pub(super) fn start_for(index: &[(u64, u64)], line: u64) -> u64 {
    index
        .iter()
        .take_while(|&&(first, _)| first <= line)
        .last()
        .map_or(0, |&(_, seq)| seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_starts_at_the_batch_holding_its_line() {
        let mut index = LogIndex::new(10_000);
        for (n, seq) in [(0, 10), (100, 14), (250, 20)] {
            index.record(n, seq, n + 100);
        }
        let entries = index.entries();
        assert_eq!(start_for(entries, 0), 10);
        assert_eq!(start_for(entries, 99), 10);
        assert_eq!(start_for(entries, 100), 14);
        assert_eq!(start_for(entries, 5_000), 20);
        assert_eq!(
            start_for(&[(40, 7)], 3),
            0,
            "before the first entry: from the start"
        );
    }

    #[test]
    fn entries_for_lines_no_longer_kept_go() {
        let mut index = LogIndex::new(1_000);
        for batch in 0..30 {
            index.record(batch * 100, batch + 1, batch * 100 + 100);
        }
        // Lines 2000..3000 are kept: the entry of the batch holding 2000 is the first.
        assert_eq!(index.entries().first(), Some(&(2000, 21)));
        assert_eq!(index.entries().len(), 10);
    }

    #[test]
    fn the_index_stays_small_however_long_the_log() {
        let mut index = LogIndex::new(usize::MAX);
        for batch in 0..10_000 {
            index.record(batch * 10, batch + 1, batch * 10 + 10);
        }
        let entries = index.entries();
        assert!(entries.len() <= MOST, "{} entries", entries.len());
        assert_eq!(entries.first(), Some(&(0, 1)));
        assert_eq!(entries.last(), Some(&(99_990, 10_000)));
        assert!(
            entries
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1)
        );
    }

    #[test]
    fn a_recreated_stream_starts_the_index_again() {
        let mut index = LogIndex::new(10_000);
        index.record(0, 500, 100);
        index.record(100, 3, 200);
        assert_eq!(index.entries(), &[(100, 3)]);
    }
}
