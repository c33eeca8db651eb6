//! One client's view of a fill: replays the window from its own offset,
//! follows the fill live, and falls back to the committed blob in the store
//! once the bytes it needs have left the window.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::watch;

use super::{Fill, Phase};
use crate::blob::{BlobStore, ByteStream};

/// What a reader does next.
enum Step {
    Chunk(Bytes),
    End,
    Fail(String),
    FromStore(u64),
    Wait,
}

/// One client's view of a fill.
pub(super) struct Reader {
    pub(super) store: BlobStore,
    pub(super) fill: Arc<Fill>,
    pub(super) rx: watch::Receiver<u64>,
    /// Offset of the next byte to return.
    pub(super) pos: u64,
    /// The rest of the blob from the store, once the window has moved on.
    pub(super) cached: Option<ByteStream>,
    pub(super) done: bool,
    /// The fill's window size.
    pub(super) window: u64,
    /// This reader's entry in the fill's reader positions.
    pub(super) registration: Registration,
}

/// A reader's entry in [`FillState::readers`], removed on drop (a client
/// that disconnects stops holding the window back).
pub(super) struct Registration {
    pub(super) fill: Arc<Fill>,
    pub(super) id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.fill.lock().readers.remove(&self.id);
    }
}

impl Reader {
    /// The next chunk of the blob for this client, `None` at its end.
    pub(super) async fn next(&mut self) -> Option<io::Result<Bytes>> {
        if self.done {
            return None;
        }
        loop {
            if let Some(body) = self.cached.as_mut() {
                let item = body.next().await;
                if !matches!(item, Some(Ok(_))) {
                    self.done = true;
                }
                return item;
            }
            self.rx.borrow_and_update();
            match self.step() {
                Step::Chunk(chunk) => {
                    self.pos += chunk.len() as u64;
                    return Some(Ok(chunk));
                }
                Step::End => {
                    self.done = true;
                    return None;
                }
                Step::Fail(message) => {
                    self.done = true;
                    return Some(Err(io::Error::other(message)));
                }
                Step::FromStore(size) => {
                    match self
                        .store
                        .read(&self.fill.digest, Some(self.pos..size))
                        .await
                    {
                        Ok(body) => self.cached = Some(body),
                        Err(e) => {
                            self.done = true;
                            return Some(Err(io::Error::other(format!(
                                "reading the filled blob {}: {e}",
                                self.fill.digest
                            ))));
                        }
                    }
                }
                // The sender lives in `self.fill`: never closed.
                Step::Wait => {
                    let _ = self.rx.changed().await;
                }
            }
        }
    }

    fn step(&self) -> Step {
        let mut st = self.fill.lock();
        // Record how far this reader got (bytes before `pos` were returned)
        // and drop what no reader needs any more.
        if st.readers.get(&self.registration.id) != Some(&self.pos) {
            st.readers.insert(self.registration.id, self.pos);
            st.trim(self.window);
        }
        if let Phase::Failed(e) = &st.phase {
            return Step::Fail(format!(
                "pull-through fill of {} failed: {e}",
                self.fill.digest
            ));
        }
        let done = matches!(st.phase, Phase::Done);
        if self.pos < st.base {
            return match (done, st.size) {
                (true, Some(size)) => Step::FromStore(size),
                (true, None) => Step::Fail("filled blob has no size".into()),
                (false, _) => Step::Wait,
            };
        }
        // Until the blob is verified and committed, the last byte received
        // is held back: a client never gets a complete-looking body of bytes
        // that turn out not to match the digest.
        let limit = match (done, st.size) {
            (true, _) => st.received,
            // Known size: only the blob's very last byte waits.
            (false, Some(size)) => st.received.min(size.saturating_sub(1)),
            (false, None) => st.received.saturating_sub(1),
        };
        let i = st.window.partition_point(|(start, _)| *start <= self.pos);
        if let Some((start, chunk)) = i.checked_sub(1).and_then(|i| st.window.get(i)) {
            let skip = (self.pos - start) as usize;
            let available = (limit.saturating_sub(*start) as usize).min(chunk.len());
            if skip < available {
                return Step::Chunk(chunk.slice(skip..available));
            }
        }
        if done {
            Step::End
        } else {
            Step::Wait
        }
    }
}
