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
    /// Up to [`INLINE_SEGMENTS`] (only the slots filled are written: nothing is zeroed first).
    Inline(arrayvec::ArrayVec<&'p str, INLINE_SEGMENTS>),
    /// More.
    Heap(Vec<&'p str>),
}

impl<'p> SegmentList<'p> {
    /// The segments, in order.
    pub fn as_slice(&self) -> &[&'p str] {
        match self {
            SegmentList::Inline(inline) => inline,
            SegmentList::Heap(heap) => heap,
        }
    }

    /// Segment `i`, to replace it (allowlist rules see a project's resolved id in place of its path).
    pub fn get_mut(&mut self, i: usize) -> Option<&mut &'p str> {
        match self {
            SegmentList::Inline(inline) => inline.get_mut(i),
            SegmentList::Heap(heap) => heap.get_mut(i),
        }
    }
}

impl CanonicalPath {
    /// The path's segments after the first `skip`, as a list: each found from where the one before it ended.
    #[inline]
    pub fn segment_list(&self, skip: usize) -> SegmentList<'_> {
        let (text, mut start, ends) = self.segments_from(skip);
        if ends.len() > INLINE_SEGMENTS {
            return SegmentList::Heap(self.segments().skip(skip).collect());
        }
        let mut list = arrayvec::ArrayVec::new();
        for &end in ends {
            let end = usize::from(end);
            // Within the inline count, checked above.
            list.try_push(text.get(start..end).unwrap_or_default()).ok();
            start = end + 1;
        }
        SegmentList::Inline(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_holds_the_segments_the_path_iterates_past_any_skip_inline_or_not() {
        for count in [0, 1, 3, INLINE_SEGMENTS, INLINE_SEGMENTS + 1, 30] {
            let text: String = (0..count).map(|i| format!("/s{i}%2Fx")).collect();
            let path = crate::canonical_path(if text.is_empty() { "/" } else { &text }).unwrap();
            for skip in 0..=count + 1 {
                let want: Vec<&str> = path.segments().skip(skip).collect();
                assert_eq!(path.segment_list(skip).as_slice(), want.as_slice(), "{count} segments, {skip} skipped");
            }
        }
    }

    #[test]
    fn a_path_lists_its_segments_after_those_skipped() {
        let path = crate::canonical_path("/api/v4/projects/1").unwrap();
        assert_eq!(path.segment_list(2).as_slice(), ["projects", "1"]);
        assert_eq!(path.segment_list(5).as_slice(), [] as [&str; 0]);
    }
}
