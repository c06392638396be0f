//! Canonical requests: one spelling of a method and a path, so that no alias reaches a different decision.
//!
//! Percent-encoding is decoded once, per segment: an encoded `/` stays inside its segment, as in GitLab's
//! `group%2Fproject` ids, and `%252F` is the text `%2F`, never a slash. Empty segments (`//`, a trailing slash) are
//! dropped and `HEAD` is `GET`. A segment that is or decodes to `.` or `..`, a decoded `/` beside an empty, `.` or
//! `..` part, a fragment (`#`, encoded or not), a NUL, a backslash, a control character and an invalid encoding are
//! refused: a gateway or an upstream could read such a path another way, so it has no canonical form. Where a
//! decoded `/` may stand at all is the route's business ([`crate::Catalog::find`] takes it only in the parameters
//! GitLab defines as URL-encoded paths).
//!
//! **Invariant:** there is one canonical form per request; a path that has none is refused, never guessed.

use std::fmt;

/// The longest path accepted.
pub const MAX_PATH_LEN: usize = 4096;
const MAX_SEGMENTS: usize = 128;

/// Paths up to this long (decoded, segments joined by `/`) are kept inline, so that deciding one allocates nothing.
const INLINE_TEXT: usize = 192;

/// The decoded segments' text, joined by `/`: inline when short, on the heap otherwise.
#[derive(Clone)]
enum Text {
    Inline(arrayvec::ArrayString<INLINE_TEXT>),
    Heap(String),
}

impl Text {
    fn with_capacity(capacity: usize) -> Text {
        if capacity <= INLINE_TEXT {
            Text::Inline(arrayvec::ArrayString::new())
        } else {
            Text::Heap(String::with_capacity(capacity))
        }
    }

    /// Appends a segment, after a `/` when `separated`: one room check for both.
    fn push_segment(&mut self, separated: bool, segment: &str) {
        if let Text::Inline(inline) = self
            && inline.remaining_capacity() >= segment.len() + usize::from(separated)
        {
            if separated {
                let _ = inline.try_push('/');
            }
            let _ = inline.try_push_str(segment);
            return;
        }
        if separated {
            self.push_str("/");
        }
        self.push_str(segment);
    }

    fn push_str(&mut self, text: &str) {
        match self {
            Text::Inline(inline) => {
                if inline.try_push_str(text).is_err() {
                    let mut heap = String::with_capacity(inline.len() + text.len());
                    heap.push_str(inline);
                    heap.push_str(text);
                    *self = Text::Heap(heap);
                }
            }
            Text::Heap(heap) => heap.push_str(text),
        }
    }

    fn len(&self) -> usize {
        self.as_str().len()
    }

    fn as_str(&self) -> &str {
        match self {
            Text::Inline(inline) => inline,
            Text::Heap(heap) => heap,
        }
    }
}

/// A path as a list of decoded segments, kept in one buffer joined by `/` (the hot path makes one path per
/// request; a short one is kept inline, and a plain one is copied in at once).
#[derive(Clone)]
pub struct CanonicalPath {
    text: Text,
    /// Where each segment ends in `text`; segment `i` starts one byte (the `/` joining them) after segment
    /// `i - 1` ends. `MAX_PATH_LEN` fits a `u16`, and `MAX_SEGMENTS` bounds the count.
    ends: arrayvec::ArrayVec<u16, MAX_SEGMENTS>,
    /// Bit `i` is set when segment `i` holds a decoded `/` (`MAX_SEGMENTS` bits).
    slashed: u128,
}

const _: () = assert!(MAX_SEGMENTS <= u128::BITS as usize);

const _: () = assert!(MAX_PATH_LEN <= u16::MAX as usize);

impl PartialEq for CanonicalPath {
    fn eq(&self, other: &CanonicalPath) -> bool {
        self.text.as_str() == other.text.as_str() && self.ends() == other.ends()
    }
}

impl Eq for CanonicalPath {}

impl std::hash::Hash for CanonicalPath {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.as_str().hash(state);
        self.ends().hash(state);
    }
}

impl fmt::Debug for CanonicalPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.segments()).finish()
    }
}

/// Why a request path has no canonical form (every one is a 400 or an unknown route, never decoded around).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Longer than a request path may be.
    TooLong,
    /// It holds a `#`.
    Fragment,
    /// It holds a NUL.
    Nul,
    /// It holds a control character.
    Control,
    /// A malformed percent-encoding.
    BadEncoding,
    /// It does not start with `/`.
    NotAbsolute,
    /// A segment is, or decodes to, `.` or `..`, or a decoded `/` stands beside an empty, `.` or `..` part.
    DotSegment,
    /// It holds a backslash, encoded or not.
    Backslash,
    /// A decoded `/` where the route takes none (only GitLab's URL-encoded path parameters may hold one).
    EncodedSlash,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PathError {
    /// What is wrong, in words.
    pub fn as_str(self) -> &'static str {
        match self {
            PathError::TooLong => "path too long",
            PathError::Fragment => "path contains a fragment",
            PathError::Nul => "path contains a NUL",
            PathError::Control => "path contains a control character",
            PathError::BadEncoding => "path has an invalid percent-encoding",
            PathError::NotAbsolute => "path must start with /",
            PathError::DotSegment => "path contains a . or .. segment",
            PathError::Backslash => "path contains a backslash",
            PathError::EncodedSlash => "path contains an encoded / where the route takes none",
        }
    }
}

impl CanonicalPath {
    fn with_capacity(capacity: usize) -> CanonicalPath {
        CanonicalPath { text: Text::with_capacity(capacity), ends: arrayvec::ArrayVec::new(), slashed: 0 }
    }

    /// Where segment `i` starts in the text.
    fn start(&self, i: usize) -> usize {
        match i.checked_sub(1) {
            None => 0,
            Some(before) => self.ends.get(before).map_or(0, |end| usize::from(*end) + 1),
        }
    }

    /// The text, where segment `skip` starts in it, and where it and each segment after it end (for
    /// `segment_list`, which finds each segment from where the one before it ended).
    pub(crate) fn segments_from(&self, skip: usize) -> (&str, usize, &[u16]) {
        (self.text.as_str(), self.start(skip), self.ends.get(skip..).unwrap_or_default())
    }

    /// The decoded segments, in order.
    pub fn segments(&self) -> impl DoubleEndedIterator<Item = &str> + '_ {
        let text = self.text.as_str();
        self.ends.iter().enumerate().map(move |(i, &end)| text.get(self.start(i)..usize::from(end)).unwrap_or_default())
    }

    /// Segment `i`, if there is one.
    #[inline]
    pub fn segment(&self, i: usize) -> Option<&str> {
        let (start, end) = self.segment_bounds(i)?;
        self.text.as_str().get(start..end)
    }

    /// Where segment `i` starts and ends in the text.
    #[inline]
    pub(crate) fn segment_bounds(&self, i: usize) -> Option<(usize, usize)> {
        let end = usize::from(*self.ends.get(i)?);
        Some((self.start(i), end))
    }

    /// The segments joined by `/`, without the leading one (what parameters' values are spans of).
    pub(crate) fn text(&self) -> &str {
        self.text.as_str()
    }

    /// Whether segment `i` holds a decoded `/`.
    #[inline]
    pub fn is_slashed(&self, i: usize) -> bool {
        u32::try_from(i).ok().and_then(|i| self.slashed.checked_shr(i)).is_some_and(|bits| bits & 1 == 1)
    }

    /// Segments `first` to `last` (inclusive) joined by `/`, as a wildcard takes them: borrowed from the path.
    pub fn span(&self, first: usize, last: usize) -> &str {
        let end = self.ends.get(last).map_or(0, |end| usize::from(*end));
        self.text.as_str().get(self.start(first)..end).unwrap_or_default()
    }

    /// The number of segments.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the path is `/` alone.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Whether any segment holds a decoded `/`.
    pub fn has_decoded_slash(&self) -> bool {
        self.slashed != 0
    }

    fn ends(&self) -> &[u16] {
        &self.ends
    }

    /// Appends a segment; the caller keeps within `MAX_SEGMENTS` and `MAX_PATH_LEN` (the tests' reference reader
    /// pushes this way).
    #[cfg(test)]
    fn push(&mut self, segment: &str) {
        self.push_segment(segment, segment.contains('/'));
    }

    /// Appends a segment known to hold a decoded `/` (`slashed`) or not.
    fn push_segment(&mut self, segment: &str, slashed: bool) {
        if slashed {
            self.slashed |= 1u128.checked_shl(u32::try_from(self.len()).unwrap_or(u32::MAX)).unwrap_or(0);
        }
        self.text.push_segment(!self.ends.is_empty(), segment);
        let _ = self.ends.try_push(u16::try_from(self.text.len()).unwrap_or(u16::MAX));
    }

    /// Takes one decoded segment of a path being read: an empty one is dropped, a dot segment or one too many
    /// refused.
    fn take(&mut self, segment: &str, slashed: bool) -> Result<(), PathError> {
        // Matched as bytes: a length switch, where matching the strings called a comparison for each.
        match segment.as_bytes() {
            [] => Ok(()),
            [b'.'] | [b'.', b'.'] => Err(PathError::DotSegment),
            _ if self.len() >= MAX_SEGMENTS => Err(PathError::TooLong),
            _ => {
                self.push_segment(segment, slashed);
                Ok(())
            }
        }
    }
}

/// Which bytes stand for themselves in the canonical spelling (anything else is percent-encoded).
const PLAIN: [bool; 256] = {
    let mut plain = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        plain[b] = c.is_ascii_alphanumeric();
        b += 1;
    }
    let others = b"-._~@:+=,;!$&'()*";
    let mut i = 0;
    while i < others.len() {
        plain[others[i] as usize] = true;
        i += 1;
    }
    plain
};

fn spelled_plain(b: u8) -> bool {
    PLAIN[usize::from(b)]
}

impl CanonicalPath {
    /// The length of the canonical spelling, without writing it.
    fn spelled_len(&self) -> usize {
        let encoded: usize = self.segments().flat_map(str::bytes).map(|b| if spelled_plain(b) { 1 } else { 3 }).sum();
        encoded + self.len().max(1)
    }
}

impl fmt::Display for CanonicalPath {
    /// The canonical spelling: every segment re-encoded where needed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("/");
        }
        for segment in self.segments() {
            f.write_str("/")?;
            for b in segment.bytes() {
                if spelled_plain(b) {
                    write!(f, "{}", char::from(b))?;
                } else {
                    write!(f, "%{b:02X}")?;
                }
            }
        }
        Ok(())
    }
}

/// Whether `raw` is already its own canonical spelling, found without decoding or allocating: every byte one
/// the spelling keeps as it is (so no `%`, `#`, backslash or control), no empty segment, no dot segment.
pub fn is_canonical(raw: &str) -> bool {
    raw == "/"
        || (raw.len() <= MAX_PATH_LEN
            && raw.starts_with('/')
            && raw.bytes().all(|b| b == b'/' || spelled_plain(b))
            && raw.split('/').skip(1).all(|segment| !matches!(segment, "" | "." | "..")))
}

/// A request target's path and query: split at its first `?`, found eight bytes at a time.
pub fn split_target(target: &str) -> (&str, Option<&str>) {
    use domain::bytes::{equal, first_flagged};
    match first_flagged(target.as_bytes(), |word| equal(word, b'?'), |b| b == b'?') {
        // `?` is ASCII: both sides are on character boundaries.
        Some(i) => (target.get(..i).unwrap_or_default(), target.get(i + 1..)),
        None => (target, None),
    }
}

/// `HEAD` is `GET`; methods are upper case. Override headers are the caller's business: never pass them here.
pub fn canonical_method(method: &str) -> std::borrow::Cow<'static, str> {
    const KNOWN: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    // As clients send them, nearly always: known at once, without comparing regardless of case.
    match method {
        "GET" | "HEAD" => return std::borrow::Cow::Borrowed("GET"),
        "POST" => return std::borrow::Cow::Borrowed("POST"),
        _ => {}
    }
    if method.eq_ignore_ascii_case("HEAD") {
        return std::borrow::Cow::Borrowed("GET");
    }
    match KNOWN.iter().find(|known| known.eq_ignore_ascii_case(method)) {
        Some(known) => std::borrow::Cow::Borrowed(known),
        None => std::borrow::Cow::Owned(method.to_ascii_uppercase()),
    }
}

/// Canonicalizes the path part of a request target (no query).
pub fn canonical_path(raw: &str) -> Result<CanonicalPath, PathError> {
    let mut path = CanonicalPath::default();
    path.read(raw)?;
    Ok(path)
}

impl Default for CanonicalPath {
    /// `/`, to read a request's path into with [`CanonicalPath::read`].
    fn default() -> CanonicalPath {
        CanonicalPath::with_capacity(0)
    }
}

impl CanonicalPath {
    /// Reads `raw` into this path, in place: what [`canonical_path`] answers, without moving the path (a decision
    /// keeps it in its own state). On an error the path is left empty or partly read: read it again or drop it.
    pub fn read(&mut self, raw: &str) -> Result<(), PathError> {
        if raw.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong);
        }
        self.clear(raw.len());
        // Nearly every request spells its path plainly: no `%`, so nothing to decode, and no byte a check looks
        // for (controls, `#`, backslash and non-ASCII are not plain). One pass finds that and its segments.
        match read_plain(raw, self) {
            Plain::Read(read) => return read,
            // Next most often, a short path whose escapes stand for plain bytes or a `/` (`group%2Fproject`):
            // decoded in one pass into one buffer, from where the plain reader stopped. Anything else, and every
            // refusal, is the decoding reader's.
            Plain::Escape { from } => {
                if read_escaped(raw, from, self).is_some() {
                    return Ok(());
                }
            }
            Plain::Other => {}
        }
        if raw.contains('#') {
            return Err(PathError::Fragment);
        }
        if !raw.starts_with('/') {
            return Err(PathError::NotAbsolute);
        }
        decoded_path(raw, self)
    }

    /// Empties the path, its text ready for `capacity` bytes.
    fn clear(&mut self, capacity: usize) {
        match &mut self.text {
            Text::Inline(inline) if capacity <= INLINE_TEXT => inline.clear(),
            _ => self.text = Text::with_capacity(capacity),
        }
        self.ends.clear();
        self.slashed = 0;
    }
}

/// What the plain reader made of a path.
enum Plain {
    /// It read the path, or refused it.
    Read(Result<(), PathError>),
    /// It stopped at a `%`: the path is the escaped reader's to try, from the segment starting at `from` (after the
    /// first `/`), the plain segments before it taken; from 0, with none taken, after an empty or refused one.
    Escape { from: usize },
    /// It starts otherwise than with `/`, or holds a byte that is not plain and no `%`: the decoding reader's.
    Other,
}

/// Reads into `path` a path with no byte to decode or refuse, in one pass over its bytes: its segments taken as
/// they are, dot segments still refused; stops at the first byte that is not plain (then another reader reads the
/// path). Its spelling is at most as long as what arrived, so it needs no count either. Without an empty segment
/// (nearly always), its text is what arrived after the first `/`, copied at once.
fn read_plain(raw: &str, path: &mut CanonicalPath) -> Plain {
    let Some(body) = raw.strip_prefix('/') else { return Plain::Other };
    let bytes = body.as_bytes();
    // The first refusal in the path's order, given only once every byte is known to be plain (a byte that is not
    // leaves the path to the decoding reader, which refuses in its own order).
    let (mut start, mut empty, mut refused) = (0, false, None);
    let mut segment_ends = |end: usize, start: usize| match bytes.get(start..end).unwrap_or_default() {
        b"" => empty = true,
        b"." | b".." => _ = refused.get_or_insert(PathError::DotSegment),
        _ if path.ends.try_push(u16::try_from(end).unwrap_or(u16::MAX)).is_err() => {
            _ = refused.get_or_insert(PathError::TooLong);
        }
        _ => {}
    };
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'/' {
            segment_ends(i, start);
            start = i + 1;
        } else if b == b'%' {
            let from = if empty || refused.is_some() { 0 } else { start };
            if from == 0 {
                path.ends.clear();
            }
            return Plain::Escape { from };
        } else if !spelled_plain(b) {
            return Plain::Other;
        }
    }
    segment_ends(bytes.len(), start);
    if let Some(refused) = refused {
        return Plain::Read(Err(refused));
    }
    if empty {
        return Plain::Read(plain_path_with_empty_segments(body, path));
    }
    path.text.push_str(body);
    Plain::Read(Ok(()))
}

/// Reads into `path` a path of at most [`INLINE_TEXT`] bytes made of plain bytes, `/` and escapes that stand for
/// a byte no check looks at or for a `/`: one pass over its bytes, each escape decoded where it stands, the
/// segments joined in one stack buffer as they end. `None`, with `path` to be read again, for any other path
/// (a byte or a decoded byte that a check looks at, non-ASCII text, an empty or dot part beside a decoded `/`, a
/// dot segment, too many segments): the decoding reader reads those, and refuses in its own order. What it
/// reads is what the decoding reader reads (the tests hold it to the reference): the same decoded text, segments
/// and decoded `/`s, and too short for its spelling to be too long. It starts at `from` (after the first `/`),
/// where a segment starts: `path` holds the segments before it, plain ones (what [`read_plain`] took), and no text.
fn read_escaped(raw: &str, from: usize, path: &mut CanonicalPath) -> Option<()> {
    let bytes = raw.strip_prefix('/')?.as_bytes();
    if bytes.len() > INLINE_TEXT {
        return None;
    }
    // The segments joined by `/`, each followed by its `/` as it ends; the last one's is dropped at the end. The
    // plain segments before `from` stand as they arrived.
    let mut text = [0u8; INLINE_TEXT + 1];
    text.get_mut(..from)?.copy_from_slice(bytes.get(..from)?);
    let (mut len, mut start, mut slashed, mut i) = (from, from, false, from);
    loop {
        let b = bytes.get(i).copied();
        match b {
            None | Some(b'/') => {
                let segment = text.get(start..len)?;
                if slashed {
                    if has_dot_part(segment) {
                        return None;
                    }
                    path.slashed |= 1u128.checked_shl(u32::try_from(path.ends.len()).ok()?)?;
                }
                match segment {
                    [] => {}
                    [b'.'] | [b'.', b'.'] => return None,
                    _ => {
                        path.ends.try_push(u16::try_from(len).ok()?).ok()?;
                        *text.get_mut(len)? = b'/';
                        len += 1;
                        start = len;
                    }
                }
                if b.is_none() {
                    break;
                }
                (slashed, i) = (false, i + 1);
            }
            Some(b'%') => {
                let hi = bytes.get(i + 1).copied().and_then(hex)?;
                let lo = bytes.get(i + 2).copied().and_then(hex)?;
                let decoded = hi << 4 | lo;
                if decoded == b'/' {
                    slashed = true;
                } else if CLASS[usize::from(decoded)] != 0 {
                    return None;
                }
                *text.get_mut(len)? = decoded;
                (len, i) = (len + 1, i + 3);
            }
            Some(b) if spelled_plain(b) => {
                *text.get_mut(len)? = b;
                (len, i) = (len + 1, i + 1);
            }
            Some(_) => return None,
        }
    }
    // Every byte written is ASCII, so this is never refused.
    let joined = std::str::from_utf8(text.get(..len.saturating_sub(1))?).ok()?;
    path.text.push_str(joined);
    Some(())
}

/// A plain path with `//` or a trailing `/`, read into `path`: its segments taken one by one, the empty ones
/// dropped.
fn plain_path_with_empty_segments(body: &str, path: &mut CanonicalPath) -> Result<(), PathError> {
    path.clear(body.len());
    for segment in body.split('/') {
        path.take(segment, false)?;
    }
    Ok(())
}

/// Any other path, read into `path`: each segment decoded and checked, in one pass that finds the segments and
/// which of them are plain (taken as they arrived; only the others are decoded).
fn decoded_path(raw: &str, path: &mut CanonicalPath) -> Result<(), PathError> {
    path.clear(raw.len());
    let mut buffer = arrayvec::ArrayVec::new();
    let mut segment = |start: usize, end: usize, plain: bool| {
        let raw_segment = raw.get(start..end).unwrap_or_default();
        if plain {
            return path.take(raw_segment, false);
        }
        let (segment, slashed) = decode(raw_segment, &mut buffer)?;
        path.take(&segment, slashed)
    };
    let (mut start, mut plain) = (0, true);
    for (i, &b) in raw.as_bytes().iter().enumerate() {
        if b == b'/' {
            segment(start, i, plain)?;
            (start, plain) = (i + 1, true);
        } else {
            plain &= spelled_plain(b);
        }
    }
    segment(start, raw.len(), plain)?;
    // The spelling every way in reads back must fit too (re-encoding can make it longer than what arrived), so
    // that a path refused as too long is refused on every way in, spelled either way. A spelling is at most four
    // times what arrived (three bytes a decoded byte, one `/` a segment): a short path needs no count.
    if raw.len() > MAX_PATH_LEN / 4 && path.spelled_len() > MAX_PATH_LEN {
        return Err(PathError::TooLong);
    }
    Ok(())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Segments up to this long are decoded on the stack (a decoded segment is never longer than it arrived).
const DECODE_BUFFER: usize = 256;

/// Hands each byte `bytes` stands for to `out`, its `%XX` escapes decoded; answers whether there was one.
fn unescape(bytes: &[u8], mut out: impl FnMut(u8)) -> Result<bool, PathError> {
    let (mut i, mut escaped) = (0, false);
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex).ok_or(PathError::BadEncoding)?;
            let lo = bytes.get(i + 2).copied().and_then(hex).ok_or(PathError::BadEncoding)?;
            out(hi << 4 | lo);
            (i, escaped) = (i + 3, true);
        } else {
            out(b);
            i += 1;
        }
    }
    Ok(escaped)
}

/// What a decoded segment holds that a check refuses (or, for non-ASCII text, may refuse), noted as it is
/// decoded: one bit per class of byte, each byte's class read from a table (one OR a byte, no branch).
#[derive(Default, Clone, Copy)]
struct Held(u8);

const NUL: u8 = 1;
const CONTROL: u8 = 2;
const FRAGMENT: u8 = 4;
const BACKSLASH: u8 = 8;
const SLASH: u8 = 16;
const NON_ASCII: u8 = 32;

/// The class of each byte value (0 for a byte no check looks at).
const CLASS: [u8; 256] = {
    let mut class = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        class[b] = match b as u8 {
            0 => NUL,
            0x01..=0x1f | 0x7f => CONTROL,
            b'#' => FRAGMENT,
            b'\\' => BACKSLASH,
            b'/' => SLASH,
            0x80.. => NON_ASCII,
            _ => 0,
        };
        b += 1;
    }
    class
};

impl Held {
    fn note(&mut self, b: u8) {
        self.0 |= CLASS[usize::from(b)];
    }

    fn holds(self, class: u8) -> bool {
        self.0 & class != 0
    }
}

/// Whether a decoded segment's parts between its decoded `/`s hold an empty or dot one. Split as bytes by a plain
/// predicate: `str::split` takes the pattern machinery for a one-byte separator.
fn has_dot_part(segment: &[u8]) -> bool {
    segment.split(|&b| b == b'/').any(|part| matches!(part, [] | [b'.'] | [b'.', b'.']))
}

/// Decodes one segment that is not plain, in one pass that also notes what it holds: into `stack` when it fits
/// (so that a decision allocates nothing for it), as it arrived when it has no escape. Answers the text and
/// whether it holds a decoded `/`. Refusals come in one order: a bad escape or invalid UTF-8, then a NUL, a
/// control character, a `#`, a backslash, then a decoded `/` beside an empty or dot part.
fn decode<'s>(
    segment: &'s str,
    stack: &'s mut arrayvec::ArrayVec<u8, DECODE_BUFFER>,
) -> Result<(std::borrow::Cow<'s, str>, bool), PathError> {
    let bytes = segment.as_bytes();
    let mut held = Held::default();
    let text = if bytes.len() <= DECODE_BUFFER {
        stack.clear();
        let escaped = unescape(bytes, |b| {
            held.note(b);
            let _ = stack.try_push(b);
        })?;
        let decoded: &'s arrayvec::ArrayVec<u8, DECODE_BUFFER> = stack;
        match escaped {
            true => std::borrow::Cow::Borrowed(std::str::from_utf8(decoded).map_err(|_| PathError::BadEncoding)?),
            false => std::borrow::Cow::Borrowed(segment),
        }
    } else {
        let mut out = Vec::with_capacity(bytes.len());
        let escaped = unescape(bytes, |b| {
            held.note(b);
            out.push(b);
        })?;
        match escaped {
            true => std::borrow::Cow::Owned(String::from_utf8(out).map_err(|_| PathError::BadEncoding)?),
            false => std::borrow::Cow::Borrowed(segment),
        }
    };
    if held.holds(NUL) {
        return Err(PathError::Nul);
    }
    // Only text with non-ASCII characters is decoded to look for C1 controls.
    if held.holds(CONTROL) || (held.holds(NON_ASCII) && text.chars().any(char::is_control)) {
        return Err(PathError::Control);
    }
    if held.holds(FRAGMENT) {
        return Err(PathError::Fragment);
    }
    if held.holds(BACKSLASH) {
        return Err(PathError::Backslash);
    }
    // A decoded `/` joins path parts: none of them may be empty or a dot segment, which a gateway that decodes
    // `%2F` before proxying would resolve.
    let slashed = held.holds(SLASH);
    if slashed && has_dot_part(text.as_bytes()) {
        return Err(PathError::DotSegment);
    }
    Ok((text, slashed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        canonical_path(s).unwrap().to_string()
    }

    #[test]
    fn aliases_collapse_to_one_path() {
        let want = "/api/v4/projects/1/issues";
        for alias in [
            "/api/v4/projects/1/issues",
            "/api/v4/projects/1/issues/",
            "//api//v4/projects/1/issues",
            "/api/%76%34/projects/1/issues",
            "/api/v4/projects/%31/issues",
        ] {
            assert_eq!(canon(alias), want, "{alias}");
        }
    }

    #[test]
    fn an_encoded_slash_stays_inside_its_segment() {
        let path = canonical_path("/api/v4/projects/group%2Fsub%2Fproj").unwrap();
        assert_eq!(path.segments().last(), Some("group/sub/proj"));
        assert_eq!(path.to_string(), "/api/v4/projects/group%2Fsub%2Fproj");
        assert!(path.has_decoded_slash());
        assert!(!canonical_path("/api/v4/projects/1").unwrap().has_decoded_slash());
    }

    #[test]
    fn dangerous_paths_are_refused() {
        assert_eq!(canonical_path("/a#b"), Err(PathError::Fragment));
        assert_eq!(canonical_path("/a%23b"), Err(PathError::Fragment));
        assert_eq!(canonical_path("/a%00b"), Err(PathError::Nul));
        assert_eq!(canonical_path("/a%zz"), Err(PathError::BadEncoding));
        assert_eq!(canonical_path("/a%ff"), Err(PathError::BadEncoding));
        assert_eq!(canonical_path("/a%0ab"), Err(PathError::Control));
        assert_eq!(canonical_path("/a%7Fb"), Err(PathError::Control), "DEL");
        assert_eq!(canonical_path("/a%C2%85b"), Err(PathError::Control), "a C1 control (NEL)");
        assert_eq!(canonical_path("/a\\b"), Err(PathError::Backslash));
        assert_eq!(canonical_path("/a%5Cb"), Err(PathError::Backslash));
        assert_eq!(
            canonical_path("/caf%C3%A9"),
            Ok(canonical_path("/caf\u{e9}").unwrap()),
            "other non-ASCII text is kept"
        );
        assert_eq!(canonical_path("relative"), Err(PathError::NotAbsolute));
    }

    #[test]
    fn dot_segments_plain_or_encoded_are_refused_not_resolved() {
        for path in [
            "/../etc",
            "/api/v4/groups/../projects/1",
            "/api/v4/./projects/1",
            "/api/v4/projects/1/..",
            "/api/v4/groups/%2e%2e/projects/1",
            "/api/v4/groups/.%2E/projects/1",
            "/api/v4/projects/%2e/1",
        ] {
            assert_eq!(canonical_path(path), Err(PathError::DotSegment), "{path}");
        }
    }

    #[test]
    fn a_decoded_slash_never_hides_a_dot_segment_or_an_empty_part() {
        for path in [
            "/api/v4/projects/1/issues/..%2F..%2F2%2Fissues",
            "/api/v4/projects/group%2F..%2Fother",
            "/api/v4/projects/group%2F.%2Fproj",
            "/api/v4/projects/%2Fgroup%2Fproj",
            "/api/v4/projects/group%2F%2Fproj",
            "/api/v4/projects/group%2F",
        ] {
            assert_eq!(canonical_path(path), Err(PathError::DotSegment), "{path}");
        }
    }

    #[test]
    fn double_encoding_is_decoded_once() {
        let path = canonical_path("/api/v4/projects/group%252Fproj").unwrap();
        assert_eq!(path.segments().last(), Some("group%2Fproj"));
        assert!(!path.has_decoded_slash());
        let dots = canonical_path("/api/v4/projects/%252e%252e").unwrap();
        assert_eq!(dots.segments().last(), Some("%2e%2e"), "text, not a dot segment");
    }

    #[test]
    fn a_path_whose_canonical_spelling_is_too_long_is_refused_as_too_long() {
        let braces = format!("/{}", "}".repeat(2000));
        assert_eq!(canonical_path(&braces), Err(PathError::TooLong), "each brace is spelled %7D");
        let fits = format!("/{}", "}".repeat(1000));
        let spelled = canonical_path(&fits).unwrap().to_string();
        assert_eq!(canonical_path(&spelled).unwrap().to_string(), spelled);
    }

    #[test]
    fn a_canonical_path_is_known_without_decoding_and_agrees_with_the_canonicalizer() {
        for path in ["/", "/api/v4/projects/1/issues", "/-/auth/x", "/a/b.git/info/refs", "/a/.well-known"] {
            assert!(is_canonical(path), "{path}");
            assert_eq!(canon(path), path);
        }
        for path in ["", "a", "//a", "/a/", "/a/./b", "/a/../b", "/a%2Fb", "/a#b", "/a b", "/caf\u{e9}", "/a\\b"] {
            assert!(!is_canonical(path), "{path}");
        }
    }

    /// The parts of `raw` between its `/`s, as `str::split('/')` gives them, found by one plain loop over the bytes.
    fn parts(raw: &str) -> impl Iterator<Item = &str> {
        let mut start = 0;
        raw.bytes().enumerate().chain([(raw.len(), b'/')]).filter(|(_, b)| *b == b'/').map(move |(end, _)| {
            let part = raw.get(start..end).unwrap_or_default();
            start = end + 1;
            part
        })
    }

    /// Hands each byte `bytes` stands for to `out`, its `%XX` escapes decoded.
    fn reference_unescape(bytes: &[u8], mut out: impl FnMut(u8)) -> Result<(), PathError> {
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            if b == b'%' {
                let hi = bytes.get(i + 1).copied().and_then(hex).ok_or(PathError::BadEncoding)?;
                let lo = bytes.get(i + 2).copied().and_then(hex).ok_or(PathError::BadEncoding)?;
                out(hi << 4 | lo);
                i += 3;
            } else {
                out(b);
                i += 1;
            }
        }
        Ok(())
    }

    /// Decodes one segment, into `buffer` when it fits (so that a decision allocates nothing for it); one without
    /// `%` is checked and borrowed as it is.
    fn reference_decode<'s>(
        segment: &'s str,
        buffer: &'s mut [u8; DECODE_BUFFER],
    ) -> Result<std::borrow::Cow<'s, str>, PathError> {
        let bytes = segment.as_bytes();
        // A segment of plain bytes alone holds nothing to decode or refuse (no `%`, control, `#`, backslash or `/`).
        if bytes.iter().all(|&b| spelled_plain(b)) {
            return Ok(std::borrow::Cow::Borrowed(segment));
        }
        let text = if !bytes.contains(&b'%') {
            std::borrow::Cow::Borrowed(segment)
        } else if bytes.len() <= DECODE_BUFFER {
            let mut len = 0;
            reference_unescape(bytes, |b| {
                if let Some(slot) = buffer.get_mut(len) {
                    *slot = b;
                    len += 1;
                }
            })?;
            let decoded = buffer.get(..len).unwrap_or_default();
            std::borrow::Cow::Borrowed(std::str::from_utf8(decoded).map_err(|_| PathError::BadEncoding)?)
        } else {
            let mut out = Vec::with_capacity(bytes.len());
            reference_unescape(bytes, |b| out.push(b))?;
            std::borrow::Cow::Owned(String::from_utf8(out).map_err(|_| PathError::BadEncoding)?)
        };
        // One pass over the bytes; only text with non-ASCII characters is decoded to look for C1 controls.
        let (mut nul, mut control, mut fragment, mut backslash, mut slash) = (false, false, false, false, false);
        for &b in text.as_bytes() {
            match b {
                0 => nul = true,
                0x01..=0x1f | 0x7f => control = true,
                b'#' => fragment = true,
                b'\\' => backslash = true,
                b'/' => slash = true,
                _ => {}
            }
        }
        if nul {
            return Err(PathError::Nul);
        }
        if control || (!text.is_ascii() && text.chars().any(char::is_control)) {
            return Err(PathError::Control);
        }
        if fragment {
            return Err(PathError::Fragment);
        }
        if backslash {
            return Err(PathError::Backslash);
        }
        // A decoded `/` joins path parts: none of them may be empty or a dot segment, which a gateway that decodes
        // `%2F` before proxying would resolve.
        if slash && text.split('/').any(|part| matches!(part, "" | "." | "..")) {
            return Err(PathError::DotSegment);
        }
        Ok(text)
    }

    /// The decoding reader as first written, segment by segment (split, then each part decoded and checked): the
    /// reference the one-pass reader is held to.
    fn reference_decoded_path(raw: &str) -> Result<CanonicalPath, PathError> {
        let mut path = CanonicalPath::with_capacity(raw.len());
        let mut buffer = [0u8; DECODE_BUFFER];
        for raw_segment in parts(raw) {
            let segment = reference_decode(raw_segment, &mut buffer)?;
            match &*segment {
                "" => {}
                "." | ".." => return Err(PathError::DotSegment),
                _ if path.len() >= MAX_SEGMENTS => return Err(PathError::TooLong),
                _ => path.push(&segment),
            }
        }
        if raw.len() > MAX_PATH_LEN / 4 && path.spelled_len() > MAX_PATH_LEN {
            return Err(PathError::TooLong);
        }
        Ok(path)
    }

    /// A read path with which of its segments hold a decoded `/` (equality compares only text and segments).
    fn with_slashes(read: Result<CanonicalPath, PathError>) -> Result<(u128, CanonicalPath), PathError> {
        read.map(|path| (path.slashed, path))
    }

    /// What the reader of short escaped paths reads, or `None` where it leaves the path to the decoding reader.
    fn read_escaped_only(raw: &str) -> Option<CanonicalPath> {
        let mut path = CanonicalPath::default();
        read_escaped(raw, 0, &mut path).map(|()| path)
    }

    fn read_decoding(raw: &str) -> Result<CanonicalPath, PathError> {
        let mut path = CanonicalPath::default();
        decoded_path(raw, &mut path).map(|()| path)
    }

    proptest::proptest! {
        #[test]
        fn parts_are_what_split_gives(raw in "[a/%]{0,12}") {
            proptest::prop_assert_eq!(parts(&raw).collect::<Vec<_>>(), raw.split('/').collect::<Vec<_>>());
        }

        #[test]
        fn a_plain_path_reads_the_same_without_decoding(raw in "(/[a-z0-9._~-]{0,4}){0,140}") {
            proptest::prop_assume!(!raw.is_empty());
            let mut path = CanonicalPath::default();
            let Plain::Read(plain) = read_plain(&raw, &mut path) else {
                return Err(proptest::test_runner::TestCaseError::fail(format!("not read: {raw}")));
            };
            proptest::prop_assert_eq!(plain.map(|()| path), read_decoding(&raw));
        }

        #[test]
        fn the_one_pass_decoding_reader_reads_as_the_reference_does(
            raw in "(/([a.]{1,4}|%2[fFeE]|%41|%25|a%2[fF]a){0,4}){0,8}"
        ) {
            proptest::prop_assert_eq!(with_slashes(read_decoding(&raw)), with_slashes(reference_decoded_path(&raw)));
        }

        #[test]
        fn the_one_pass_decoding_reader_refuses_as_the_reference_does(
            raw in "(/([a.]{1,4}|%2[fFeE]|%41|%00|%0|%C3|%25|%23|#|%5[cC]|\\\\|\\.\\.|%e2%80%8b|%c2%85| ){0,5}){0,40}"
        ) {
            proptest::prop_assert_eq!(with_slashes(read_decoding(&raw)), with_slashes(reference_decoded_path(&raw)));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn a_short_escaped_path_reads_in_one_pass_as_the_reference_reads_it(
            raw in "(/([a.]{1,4}|%2[fFeE]|%41|%25|%2[dD]|a%2[fF]a|%7[eE]|%40|~){0,4}){0,8}"
        ) {
            proptest::prop_assume!(raw.starts_with('/'));
            let reference = reference_decoded_path(&raw);
            // Read whole, the plain reader hands the path over at its first escape.
            proptest::prop_assert_eq!(with_slashes(canonical_path(&raw)), with_slashes(reference.clone()));
            match read_escaped_only(&raw) {
                Some(read) => proptest::prop_assert_eq!(with_slashes(Ok(read)), with_slashes(reference)),
                // Left to the decoding reader only when it is too long for one pass or has no reading.
                None => proptest::prop_assert!(raw.len() > INLINE_TEXT + 1 || reference.is_err(), "{raw}"),
            }
        }

        #[test]
        fn a_path_the_one_pass_reader_takes_is_one_the_reference_reads_the_same(
            raw in "(/([a.]{1,4}|%2[fFeE]|%41|%00|%0|%C3|%25|%23|#|%5[cC]|\\\\|\\.\\.|%e2%80%8b|%c2%85|%7[fF]|%1[fF]| ){0,5}){0,40}"
        ) {
            if let Some(read) = read_escaped_only(&raw) {
                proptest::prop_assert_eq!(with_slashes(Ok(read)), with_slashes(reference_decoded_path(&raw)));
            }
            // Whichever reader reads it, a path reads as the reference does; a fragment anywhere is refused first.
            proptest::prop_assume!(raw.starts_with('/'));
            let reference = if raw.contains('#') { Err(PathError::Fragment) } else { reference_decoded_path(&raw) };
            proptest::prop_assert_eq!(with_slashes(canonical_path(&raw)), with_slashes(reference));
        }
    }

    #[test]
    fn the_paths_forward_auth_and_the_decision_api_are_asked_about_most_are_read_in_one_pass() {
        for raw in ["/api/v4/projects/root%2Fload/issues", "/api/v4/projects/g%2Fsub%2Fp/merge_requests/1", "/a%2Fb/"] {
            assert_eq!(read_escaped_only(raw), Some(reference_decoded_path(raw).unwrap()), "{raw}");
        }
        for raw in ["/a%2F/b", "/a/%2E", "/caf%C3%A9", "/a%23b", "/a#b", "/a%2F..%2Fb"] {
            assert_eq!(read_escaped_only(raw), None, "{raw}");
        }
    }

    #[test]
    fn a_long_encoded_segment_decodes_as_a_short_one_does() {
        for repeat in [1, 84, 85, 200] {
            // 3 bytes an escape and 4 for `%2Fb`: up to 84 the segment fits the stack buffer, from 85 it is
            // decoded on the heap.
            let raw = format!("/a/{}%2Fb", "%41".repeat(repeat));
            let path = canonical_path(&raw).unwrap();
            assert_eq!(
                path.segments().last().map(str::to_owned),
                Some(format!("{}/b", "A".repeat(repeat))),
                "{repeat}"
            );
            assert!(path.has_decoded_slash());
        }
        assert_eq!(canonical_path(&format!("/{}%C3", "%41".repeat(100))).err(), Some(PathError::BadEncoding));
    }

    #[test]
    fn a_path_read_in_place_again_is_what_a_new_one_reads() {
        let (many, long) = (format!("/{}", "a/".repeat(150)), format!("/{}", "abcdefghij/".repeat(25)));
        let mut path = CanonicalPath::default();
        for raw in ["/api/v4/projects/1/issues", &many, &long, "/g%2Fp/x", "/a/../b", &long, "//a//b/", "/x"] {
            let read = path.read(raw).map(|()| path.clone());
            assert_eq!(read, canonical_path(raw), "{raw}");
        }
    }

    #[test]
    fn a_target_splits_at_its_first_question_mark_wherever_it_stands() {
        for len in 0..20 {
            for place in 0..=len {
                let mut target = "a".repeat(len);
                if place < len {
                    target.replace_range(place..=place, "?");
                    // A second `?`, and bytes a borrow could run through, after the first.
                    target.push_str("?\u{0}\u{ff}");
                }
                let want = target.split_once('?').map_or((target.as_str(), None), |(p, q)| (p, Some(q)));
                assert_eq!(split_target(&target), want, "{target:?}");
            }
        }
        assert_eq!(split_target("/caf\u{e9}/x?\u{e9}=1"), ("/caf\u{e9}/x", Some("\u{e9}=1")));
        assert_eq!(split_target("\u{ff}\u{3f}"), ("\u{ff}", Some("")));
    }

    proptest::proptest! {
        #[test]
        fn a_target_splits_as_split_once_splits_it(target in "[a?>\u{0}\u{bf}\u{10ffff}/]{0,40}") {
            let want = target.split_once('?').map_or((target.as_str(), None), |(p, q)| (p, Some(q)));
            proptest::prop_assert_eq!(split_target(&target), want);
        }
    }

    #[test]
    fn head_is_get() {
        assert_eq!(canonical_method("head"), "GET");
        assert_eq!(canonical_method("post"), "POST");
    }

    proptest::proptest! {
        #[test]
        fn a_method_is_its_upper_case_spelling_and_head_is_get(method in "(?i)(get|head|post|put|patch|delete|options|[a-z]{1,8})") {
            let want = match method.to_ascii_uppercase().as_str() {
                "HEAD" => "GET".to_owned(),
                upper => upper.to_owned(),
            };
            proptest::prop_assert_eq!(canonical_method(&method), want);
        }
    }
}
