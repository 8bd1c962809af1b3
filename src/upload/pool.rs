//! A fixed set of part buffers, mapped once per upload and reused from part to part.
//!
//! Allocating a fresh 16 MiB buffer per part means the kernel hands out and zeroes new
//! pages for every part, which costs memory bandwidth the hash and the network need.
//! The buffers are mapped and faulted in when the upload starts, so an upload's memory
//! is a fixed reservation, `count × part size`, paid once: the worker's footprint does
//! not depend on the artifact's size or on how the network behaves, and an operator can
//! size `MemoryMax=` from the configuration alone.
//!
//! They are anonymous memory maps rather than heap allocations so that they go straight
//! back to the kernel when the upload ends. Through `malloc`, freed 16 MiB blocks raise
//! glibc's mmap threshold and later ones stay on the heap, so a long-running worker
//! would keep tens of MiB resident between uploads.
//!
//! No pooling crate offers "block until a buffer comes back" together with handing a
//! buffer out as `Bytes` that returns itself when the last clone is dropped, so this is
//! written here.

use std::io::Read;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use memmap2::{MmapMut, MmapOptions};

/// Why a reader gets no more buffers or parts: the upload stopped taking them.
pub(crate) fn stopped() -> std::io::Error {
    std::io::Error::other("upload stopped")
}

pub(crate) struct PartPool {
    state: Mutex<State>,
    returned: Condvar,
}

struct State {
    /// Most recently returned last, so the warmest buffer is reused first.
    free: Vec<MmapMut>,
    closed: bool,
}

impl PartPool {
    /// Maps `count` buffers of `part_size` bytes and faults them in.
    pub(crate) fn new(part_size: usize, count: usize) -> std::io::Result<Arc<Self>> {
        let free = (0..count.max(1))
            .map(|_| MmapOptions::new().len(part_size).populate().map_anon())
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Arc::new(Self {
            state: Mutex::new(State {
                free,
                closed: false,
            }),
            returned: Condvar::new(),
        }))
    }

    /// An empty buffer: a free one, or the next one returned. Fails once the pool is
    /// closed.
    pub(crate) fn take(self: &Arc<Self>) -> std::io::Result<PartBuf> {
        let mut state = self.lock();
        loop {
            if state.closed {
                return Err(stopped());
            }
            if let Some(map) = state.free.pop() {
                return Ok(PartBuf {
                    map: Some(map),
                    len: 0,
                    pool: Arc::clone(self),
                });
            }
            state = self
                .returned
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Wakes a `take` that is waiting and makes every later one fail: the upload has
    /// stopped. Buffers are unmapped as they come back from now on.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.free.clear();
        self.returned.notify_all();
    }

    #[cfg(test)]
    fn free(&self) -> usize {
        self.lock().free.len()
    }

    fn give_back(&self, map: MmapMut) {
        let mut state = self.lock();
        if !state.closed {
            state.free.push(map);
            self.returned.notify_one();
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change to the state is a single push, pop or assignment, so it is
        // consistent even after a panic elsewhere poisoned the lock.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A buffer on loan from the pool; it goes back when dropped.
pub(crate) struct PartBuf {
    /// Always `Some` until dropped.
    map: Option<MmapMut>,
    len: usize,
    pool: Arc<PartPool>,
}

impl PartBuf {
    /// Reads from `source` until the buffer is full or the source ends; returns the
    /// bytes now held.
    pub(crate) fn fill(&mut self, source: &mut impl Read) -> std::io::Result<usize> {
        let map = self.map.as_mut().expect("a loaned buffer has its map");
        while self.len < map.len() {
            match source.read(&mut map[self.len..]) {
                Ok(0) => break,
                Ok(n) => self.len += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.len)
    }

    /// Whether the buffer holds a whole part (a shorter one is the file's last).
    pub(crate) fn is_full(&self) -> bool {
        self.map.as_ref().is_some_and(|map| self.len == map.len())
    }

    /// Hands the filled part out as `Bytes`; the buffer comes back to the pool when the
    /// last clone (request body, retry copy, hasher) is dropped.
    pub(crate) fn freeze(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

impl AsRef<[u8]> for PartBuf {
    fn as_ref(&self) -> &[u8] {
        self.map.as_ref().map_or(&[], |map| &map[..self.len])
    }
}

impl Drop for PartBuf {
    fn drop(&mut self) {
        if let Some(map) = self.map.take() {
            self.pool.give_back(map);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_buffer_comes_back_when_its_last_clone_is_dropped() {
        let pool = PartPool::new(8, 2).unwrap();
        assert_eq!(pool.free(), 2);
        let mut buf = pool.take().unwrap();
        assert_eq!(buf.fill(&mut &b"part one and more"[..]).unwrap(), 8);
        assert!(buf.is_full());
        let part = buf.freeze();
        assert_eq!(&part[..], b"part one");
        let clone = part.clone();
        drop(part);
        assert_eq!(pool.free(), 1, "a clone still holds the first buffer");
        drop(clone);
        assert_eq!(pool.free(), 2);
        let mut reused = pool.take().unwrap();
        assert!(reused.as_ref().is_empty(), "a reused buffer starts empty");
        assert_eq!(reused.fill(&mut &b"tail"[..]).unwrap(), 4);
        assert!(!reused.is_full());
        assert_eq!(reused.freeze().as_ref(), b"tail");
        assert_eq!(pool.free(), 2);
    }

    #[test]
    fn take_waits_for_a_buffer_and_close_releases_it() {
        let pool = PartPool::new(8, 1).unwrap();
        let held = pool.take().unwrap().freeze();
        let waiter = {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || pool.take().is_ok())
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "the only buffer is in use");
        drop(held);
        assert!(waiter.join().unwrap());

        let held = pool.take().unwrap();
        let waiter = {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || pool.take().is_err())
        };
        std::thread::sleep(Duration::from_millis(50));
        pool.close();
        assert!(
            waiter.join().unwrap(),
            "closing wakes the waiter with an error"
        );
        drop(held);
        assert_eq!(
            pool.free(),
            0,
            "a buffer returned after closing is unmapped"
        );
    }
}
