//! A guard on the request line of every HTTP/1 request a connection carries: a request target holding a `#` is
//! made unreadable before hyper sees it, so that hyper answers 400.
//!
//! hyper's `Uri` drops a fragment silently (`/api/v4/projects/1#/../2/issues` reaches a handler as
//! `/api/v4/projects/1`), while a gateway or an upstream may read the same bytes another way; a client never sends
//! a fragment (RFC 9112 §3.2 has none in a request target). The guard follows the connection's framing
//! (`Content-Length`, chunked bodies and their trailers) so that it looks at request lines only, never at bodies,
//! and it turns the `#` into a byte no request target may hold (`0xFF`, never valid UTF-8), which hyper refuses
//! with 400 and a closed connection.
//!
//! **Invariant:** no request whose target holds a `#` reaches a handler; the guard changes no other byte and never
//! holds bytes back.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest request head the guard follows; past it the connection is passed through (hyper's own limit
/// refuses such a head anyway).
const MAX_HEAD: usize = 64 * 1024;

/// What the byte `#` becomes in a request target: never valid there, so hyper answers 400.
const POISON: u8 = 0xFF;

/// Where the next byte of the connection falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A request head; `spaces` counts the spaces seen on its request line while it lasts.
    Head { request_line: bool, spaces: u8 },
    /// That many bytes of a body with a `Content-Length`.
    Body(u64),
    /// A chunk's size line: its size so far, whether its extension has begun, whether a digit was seen.
    ChunkSize { size: u64, extension: bool, digits: bool },
    /// That many bytes of a chunk's data.
    ChunkData(u64),
    /// The line end after a chunk's data.
    ChunkEnd,
    /// The trailer section after the last chunk; `empty_line` while the current line is still empty.
    Trailers { empty_line: bool },
    /// The framing could not be followed (a malformed request hyper refuses and closes on, or too long a head).
    PassThrough,
}

/// Follows one connection's requests.
#[derive(Debug)]
struct Scanner {
    state: State,
    /// The head read so far, for its framing headers.
    head: Vec<u8>,
}

impl Scanner {
    fn new() -> Scanner {
        Scanner { state: State::Head { request_line: true, spaces: 0 }, head: Vec::new() }
    }

    /// Looks at bytes just read, in order, and poisons a `#` in a request target.
    fn scan(&mut self, bytes: &mut [u8]) {
        let mut i = 0;
        while i < bytes.len() {
            match self.state {
                State::PassThrough => return,
                State::Body(left) | State::ChunkData(left) => {
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len() - i);
                    i += take;
                    let left = left.saturating_sub(u64::try_from(take).unwrap_or(u64::MAX));
                    self.state = match (self.state, left) {
                        (State::Body(_), 0) => State::Head { request_line: true, spaces: 0 },
                        (State::Body(_), _) => State::Body(left),
                        (_, 0) => State::ChunkEnd,
                        _ => State::ChunkData(left),
                    };
                }
                // A request whose whole head is in this read, the usual case: checked where it lies, nothing copied.
                State::Head { request_line: true, spaces: 0 } if self.head.is_empty() => {
                    let rest = bytes.get_mut(i..).unwrap_or_default();
                    let blank = rest.iter().take_while(|b| **b == b'\r' || **b == b'\n').count();
                    if blank > 0 {
                        // Empty lines before a request line are allowed (RFC 9112 §2.2).
                        i += blank;
                    } else if let Some(len) = self.whole_head(rest) {
                        i += len;
                    } else if let Some(b) = bytes.get_mut(i) {
                        self.head_byte(b);
                        i += 1;
                    }
                }
                // A head split across reads: the request line byte by byte (a `#` in it is changed where it stands).
                State::Head { request_line: true, .. } => {
                    if let Some(b) = bytes.get_mut(i) {
                        self.head_byte(b);
                    }
                    i += 1;
                }
                // The rest of the head, up to the empty line that ends it, at once.
                State::Head { request_line: false, .. } => {
                    let rest = bytes.get(i..).unwrap_or_default();
                    let end = self.head_end(rest);
                    let taken = end.map_or(rest.len(), |k| k + 1);
                    if self.head.len() + taken > MAX_HEAD {
                        self.pass_through();
                        return;
                    }
                    self.head.extend_from_slice(rest.get(..taken).unwrap_or_default());
                    i += taken;
                    if end.is_some() {
                        self.state = self.framing();
                        self.head.clear();
                    }
                }
                _ => {
                    if let Some(&b) = bytes.get(i) {
                        self.framing_byte(b);
                    }
                    i += 1;
                }
            }
        }
    }

    /// One byte of a request line (a request line never ends a head: the empty line after it does).
    fn head_byte(&mut self, b: &mut u8) {
        let State::Head { request_line, spaces } = self.state else { return };
        // Empty lines before a request line are allowed (RFC 9112 §2.2).
        if self.head.is_empty() && (*b == b'\r' || *b == b'\n') {
            return;
        }
        if request_line {
            match *b {
                b' ' => self.state = State::Head { request_line, spaces: spaces.saturating_add(1) },
                b'#' if spaces == 1 => *b = POISON,
                b'\n' => self.state = State::Head { request_line: false, spaces },
                _ => {}
            }
        }
        if self.head.len() >= MAX_HEAD {
            self.pass_through();
            return;
        }
        self.head.push(*b);
    }

    /// Where in `rest` the head ends: the `\n` of its empty line (`\n\n` or `\n\r\n`, which may begin in the
    /// part of the head already read).
    fn head_end(&self, rest: &[u8]) -> Option<usize> {
        let before = |k: usize, back: usize| -> Option<u8> {
            match k.checked_sub(back) {
                Some(at) => rest.get(at).copied(),
                None => self.head.len().checked_sub(back - k).and_then(|at| self.head.get(at).copied()),
            }
        };
        rest.iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(k, _)| k)
            .find(|&k| before(k, 1) == Some(b'\n') || (before(k, 1) == Some(b'\r') && before(k, 2) == Some(b'\n')))
    }

    /// Handles a head that lies whole in `rest` (from its request line to its empty line): poisons a `#` in its
    /// target and moves to its body's framing. Returns its length, or `None` when the head goes on past `rest`.
    /// Its lines are found with `memchr` and read once, for the end of the head and the framing headers both.
    fn whole_head(&mut self, rest: &mut [u8]) -> Option<usize> {
        let mut newlines = memchr::memchr_iter(b'\n', rest);
        let line_end = newlines.next()?;
        let mut framing = Framing::default();
        let mut start = line_end + 1;
        let end = loop {
            let newline = newlines.next()?;
            let line = rest.get(start..newline).unwrap_or_default();
            // The empty line (`\n\n` or `\n\r\n`) ends the head.
            if line.is_empty() || line == b"\r" {
                break newline;
            }
            framing.line(line);
            start = newline + 1;
        };
        if end >= MAX_HEAD {
            return None;
        }
        let line = rest.get_mut(..line_end)?;
        if let Some(first) = memchr::memchr(b' ', line) {
            let target = line.get_mut(first + 1..).unwrap_or_default();
            let target_len = memchr::memchr(b' ', target).unwrap_or(target.len());
            for b in target.iter_mut().take(target_len).filter(|b| **b == b'#') {
                *b = POISON;
            }
        }
        self.state = framing.state();
        Some(end + 1)
    }

    /// What follows the complete head read so far.
    fn framing(&self) -> State {
        framing_of(&self.head)
    }

    fn framing_byte(&mut self, b: u8) {
        self.state = match (self.state, b) {
            // A size line without a digit is malformed: hyper refuses it.
            (State::ChunkSize { digits: false, .. }, b'\n') => State::PassThrough,
            (State::ChunkSize { size: 0, .. }, b'\n') => State::Trailers { empty_line: true },
            (State::ChunkSize { size, .. }, b'\n') => State::ChunkData(size),
            (State::ChunkSize { size, extension: false, .. }, b) if b.is_ascii_hexdigit() => {
                let digit = u64::from(char::from(b).to_digit(16).unwrap_or(0));
                match size.checked_mul(16).and_then(|s| s.checked_add(digit)) {
                    Some(size) => State::ChunkSize { size, extension: false, digits: true },
                    None => State::PassThrough,
                }
            }
            (State::ChunkSize { size, digits, .. }, b';' | b' ' | b'\t' | b'\r') => {
                State::ChunkSize { size, extension: true, digits }
            }
            (State::ChunkSize { extension: true, .. }, _) => self.state,
            (State::ChunkSize { .. }, _) => State::PassThrough,
            (State::ChunkEnd, b'\n') => State::ChunkSize { size: 0, extension: false, digits: false },
            (State::Trailers { empty_line: true }, b'\n') => State::Head { request_line: true, spaces: 0 },
            (State::Trailers { .. }, b'\n') => State::Trailers { empty_line: true },
            (State::Trailers { empty_line }, b'\r') => State::Trailers { empty_line },
            (State::Trailers { .. }, _) => State::Trailers { empty_line: false },
            (state, _) => state,
        };
    }

    fn pass_through(&mut self) {
        self.state = State::PassThrough;
        self.head = Vec::new();
    }
}

/// What follows a complete head: its body's framing, from `Transfer-Encoding` and `Content-Length`.
fn framing_of(head: &[u8]) -> State {
    let mut framing = Framing::default();
    for line in head.split(|b| *b == b'\n').skip(1) {
        framing.line(line);
    }
    framing.state()
}

/// A head's framing headers, read line by line.
#[derive(Debug, Default)]
struct Framing {
    length: Option<u64>,
    chunked: bool,
    encoded: bool,
    /// Conflicting or malformed lengths: hyper refuses the request and closes.
    malformed: bool,
}

impl Framing {
    /// Reads one header line (its `\r` included or not).
    fn line(&mut self, line: &[u8]) {
        // Only those two names matter: any other line is passed over on its first byte.
        if !matches!(line.first(), Some(b'c' | b'C' | b't' | b'T')) {
            return;
        }
        let Some(colon) = memchr::memchr(b':', line) else { return };
        let (name, value) = line.split_at(colon);
        let value = std::str::from_utf8(value.get(1..).unwrap_or_default()).unwrap_or("").trim();
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            self.encoded = true;
            self.chunked = value.rsplit(',').next().is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case(b"content-length") {
            match (value.parse::<u64>(), self.length) {
                (Ok(n), None) => self.length = Some(n),
                (Ok(n), Some(m)) if n == m => {}
                _ => self.malformed = true,
            }
        }
    }

    fn state(&self) -> State {
        match (self.malformed, self.encoded, self.chunked, self.length) {
            (true, ..) => State::PassThrough,
            (false, true, true, _) => State::ChunkSize { size: 0, extension: false, digits: false },
            (false, true, false, _) => State::PassThrough,
            (false, false, _, Some(n)) if n > 0 => State::Body(n),
            _ => State::Head { request_line: true, spaces: 0 },
        }
    }
}

/// A connection whose request lines are guarded.
#[derive(Debug)]
pub struct Guarded<S> {
    inner: S,
    scanner: Scanner,
}

impl<S> Guarded<S> {
    pub fn new(inner: S) -> Guarded<S> {
        Guarded { inner, scanner: Scanner::new() }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Some(new) = buf.filled_mut().get_mut(before..) {
            this.scanner.scan(new);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The server's listener: TCP connections, each guarded.
pub struct GuardedListener(pub tokio::net::TcpListener);

impl axum::serve::Listener for GuardedListener {
    type Io = Guarded<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = axum::serve::Listener::accept(&mut self.0).await;
        (Guarded::new(stream), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scans `input` cut into pieces of `piece` bytes, and returns what hyper would read.
    fn through(input: &[u8], piece: usize) -> Vec<u8> {
        let mut scanner = Scanner::new();
        let mut out = input.to_vec();
        for chunk in out.chunks_mut(piece) {
            scanner.scan(chunk);
        }
        out
    }

    fn poisoned(out: &[u8]) -> usize {
        out.iter().filter(|b| **b == POISON).count()
    }

    #[test]
    fn a_fragment_in_a_request_target_is_poisoned_however_the_bytes_arrive() {
        let input = b"GET /-/auth/api/v4/projects/1#/../2/issues HTTP/1.1\r\nHost: x\r\n\r\n";
        for piece in 1..input.len() {
            let out = through(input, piece);
            assert_eq!(poisoned(&out), 1, "in pieces of {piece}");
            assert_eq!(out.iter().position(|b| *b == POISON), input.iter().position(|b| *b == b'#'));
        }
    }

    #[test]
    fn a_hash_in_a_header_or_a_body_is_left_alone_and_the_next_request_is_still_guarded() {
        let mut input = b"POST /a HTTP/1.1\r\nX-Tag: #1\r\nContent-Length: 12\r\n\r\nGET /b#c HTT".to_vec();
        input.extend_from_slice(b"GET /next#frag HTTP/1.1\r\nHost: x\r\n\r\n");
        for piece in [1, 3, 7, input.len()] {
            let out = through(&input, piece);
            assert_eq!(poisoned(&out), 1, "in pieces of {piece}");
            let at = out.iter().position(|b| *b == POISON).unwrap_or(0);
            assert_eq!(&out[at - 5..at], b"/next");
        }
    }

    #[test]
    fn chunked_bodies_and_their_trailers_are_followed() {
        let mut input = b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        input.extend_from_slice(b"5;ext=#\r\nGET #\r\n10\r\n0123456789#bcdef\r\n0\r\nX-Trailer: #\r\n\r\n");
        input.extend_from_slice(b"GET /x#y HTTP/1.1\r\n\r\n");
        for piece in [1, 2, 5, input.len()] {
            let out = through(&input, piece);
            assert_eq!(poisoned(&out), 1, "in pieces of {piece}");
            assert_eq!(out.iter().position(|b| *b == POISON), input.iter().rposition(|b| *b == b'#'));
        }
    }

    #[test]
    fn a_plain_request_is_not_changed() {
        let input = b"\r\nGET /api/v4/projects/1?x=%23 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\n\n";
        assert_eq!(through(input, 4), input.to_vec());
    }

    /// One request's bytes, and where in them a `#` must be poisoned.
    fn request(target_hash: bool, body: &[u8], chunked: bool, chunk: usize) -> (Vec<u8>, Vec<usize>) {
        let target = if target_hash { "/a/b#frag" } else { "/a/b?x=%23" };
        let mut out = format!("POST {target} HTTP/1.1\r\nHost: x\r\nX-Note: a # in a header\r\n").into_bytes();
        let poison = out.iter().position(|b| *b == b'#').filter(|_| target_hash).into_iter().collect();
        if chunked {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            for piece in body.chunks(chunk.max(1)) {
                out.extend_from_slice(format!("{:x};ext=#\r\n", piece.len()).as_bytes());
                out.extend_from_slice(piece);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\nX-Trailer: #\r\n\r\n");
        } else {
            out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            out.extend_from_slice(body);
        }
        (out, poison)
    }

    proptest::proptest! {
        /// However requests are framed and however the bytes arrive, exactly the `#`s of request targets change.
        #[test]
        fn only_the_fragments_of_request_targets_are_poisoned(
            requests in proptest::collection::vec(
                (proptest::bool::ANY, proptest::collection::vec(proptest::sample::select(b"#\r\nGET /x#a HTTP/1.1".to_vec()), 0..64), proptest::bool::ANY, 1usize..9),
                1..6,
            ),
            piece in 1usize..600,
        ) {
            let mut input = Vec::new();
            let mut want = Vec::new();
            for (hash, body, chunked, chunk) in requests {
                let (bytes, poison) = request(hash, &body, chunked, chunk);
                want.extend(poison.iter().map(|p| p + input.len()));
                input.extend(bytes);
            }
            let out = through(&input, piece);
            let got: Vec<usize> = out.iter().enumerate().filter(|(_, b)| **b == POISON).map(|(i, _)| i).collect();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
