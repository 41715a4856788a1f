//! The replies the session awaits, each with where its command ends in the output.
//!
//! A child module of `session`, so that it reaches the session's `Expect`.

use std::collections::VecDeque;

use super::Expect;

/// The replies awaited, oldest first, each with the output offset just past its command.
///
/// A reply can answer a command only once every byte of that command was written (see
/// [`Session::handle_written`](super::Session::handle_written)); reads and writes
/// overlap, so without the offsets a reply the server sent too early (a `250` to the end
/// of data, before the data) would be paired with a command queued or written after it
/// arrived.
#[derive(Debug, Default)]
pub(super) struct Awaited {
    items: VecDeque<(Expect, u64)>,
}

impl Awaited {
    pub(super) fn push(&mut self, expect: Expect, end: u64) {
        self.items.push_back((expect, end));
    }

    pub(super) fn front(&self) -> Option<&Expect> {
        self.items.front().map(|(e, _)| e)
    }

    /// The oldest reply awaited, if its command was completely written by `written`.
    pub(super) fn front_written(&self, written: u64) -> Option<Expect> {
        self.items
            .front()
            .filter(|(_, end)| *end <= written)
            .map(|(e, _)| *e)
    }

    pub(super) fn pop_front(&mut self) -> Option<Expect> {
        self.items.pop_front().map(|(e, _)| e)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Expect> {
        self.items.iter().map(|(e, _)| e)
    }

    pub(super) fn contains(&self, expect: &Expect) -> bool {
        self.iter().any(|e| e == expect)
    }

    pub(super) fn clear(&mut self) {
        self.items.clear();
    }

    pub(super) fn drain(&mut self, _all: std::ops::RangeFull) -> impl Iterator<Item = Expect> + '_ {
        self.items.drain(..).map(|(e, _)| e)
    }
}
