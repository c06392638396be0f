//! A path's segments as one slice, for code that walks them by index (the route trie, allowlist rules).
//!
//! **Invariant:** a list of up to [`INLINE_SEGMENTS`] segments is kept on the stack, so that listing a request's
//! segments allocates nothing; a longer one is on the heap, whole.

use crate::CanonicalPath;

/// How many segments a list keeps on the stack.
pub const INLINE_SEGMENTS: usize = 24;

/// Segments borrowed from a path, as a slice.
#[expect(clippy::large_enum_variant, reason = "inline on purpose: boxing it would be the allocation it avoids")]
pub enum SegmentList<'p> {
    /// Up to [`INLINE_SEGMENTS`], and how many there are.
    Inline([&'p str; INLINE_SEGMENTS], usize),
    /// More.
    Heap(Vec<&'p str>),
}

impl<'p> SegmentList<'p> {
    /// The `len` segments `segments` yields.
    pub fn of(segments: impl Iterator<Item = &'p str>, len: usize) -> SegmentList<'p> {
        if len > INLINE_SEGMENTS {
            return SegmentList::Heap(segments.collect());
        }
        let mut inline = [""; INLINE_SEGMENTS];
        let mut count = 0;
        for (slot, segment) in inline.iter_mut().zip(segments) {
            *slot = segment;
            count += 1;
        }
        SegmentList::Inline(inline, count)
    }

    /// The segments, in order.
    pub fn as_slice(&self) -> &[&'p str] {
        match self {
            SegmentList::Inline(inline, len) => inline.get(..*len).unwrap_or_default(),
            SegmentList::Heap(heap) => heap,
        }
    }

    /// Segment `i`, to replace it (allowlist rules see a project's resolved id in place of its path).
    pub fn get_mut(&mut self, i: usize) -> Option<&mut &'p str> {
        match self {
            SegmentList::Inline(inline, len) => inline.get_mut(..*len).and_then(|s| s.get_mut(i)),
            SegmentList::Heap(heap) => heap.get_mut(i),
        }
    }
}

impl CanonicalPath {
    /// The path's segments after the first `skip`, as a list.
    pub fn segment_list(&self, skip: usize) -> SegmentList<'_> {
        SegmentList::of(self.segments().skip(skip), self.len().saturating_sub(skip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_past_the_inline_count_are_kept_whole() {
        let many: Vec<String> = (0..40).map(|i| i.to_string()).collect();
        for len in [0, 1, INLINE_SEGMENTS, INLINE_SEGMENTS + 1, 40] {
            let segments = SegmentList::of(many.iter().take(len).map(String::as_str), len);
            let want: Vec<&str> = many.iter().take(len).map(String::as_str).collect();
            assert_eq!(segments.as_slice(), want.as_slice());
        }
    }

    #[test]
    fn a_path_lists_its_segments_after_those_skipped() {
        let path = crate::canonical_path("/api/v4/projects/1").unwrap();
        assert_eq!(path.segment_list(2).as_slice(), ["projects", "1"]);
        assert_eq!(path.segment_list(5).as_slice(), [] as [&str; 0]);
    }
}
