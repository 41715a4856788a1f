//! Fast scans over message content: where the first line ending that is not a CRLF pair
//! is, and where the next line starting with `.` is.
//!
//! Message content is mostly clean text with a CRLF every line, so a search that stops at
//! every CR and LF (as `memchr2` does) stops twice a line. These scans test a block of
//! [`BLOCK`] octets at once with code the compiler turns into vector compares (no
//! `unsafe`, no run-time CPU detection) and look octet by octet only inside the block
//! that holds what they look for.

/// Octets tested at once.
const BLOCK: usize = 64;

/// A block and the octet after it: the pairs of neighbours that start in the block.
const WINDOW: usize = BLOCK + 1;

/// The length of the longest prefix of `s` in which every CR and LF is part of a CRLF
/// pair, and which does not end between the CR and the LF of one: `s.len()` when all of
/// `s` is clean; otherwise the offset of the first bare CR or LF, or of a CR that ends
/// `s` (its LF may come with the next input).
///
/// The octet before `s` counts as no CR: a LF at the very start is bare.
pub(super) fn clean_prefix(s: &[u8]) -> usize {
    if s.first() == Some(&b'\n') {
        return 0;
    }
    // Each block tests the pairs (s[k], s[k + 1]) for the BLOCK values of k at the start
    // of `rest`: a CR must be followed by a LF, and a LF preceded by a CR, so the two
    // tests agree on every pair.
    let mut rest = s;
    while let Some(window) = rest.first_chunk::<WINDOW>() {
        if !pairs_clean(window) {
            break;
        }
        rest = rest.get(BLOCK..).unwrap_or_default();
    }
    let mut at = s.len().saturating_sub(rest.len());
    if at > 0 && s.get(at) == Some(&b'\n') {
        // The LF of a pair split by the block boundary: the last block checked it.
        at = at.saturating_add(1);
    }
    // The rest, or the block with the fault: octet by octet.
    loop {
        match (s.get(at), s.get(at.saturating_add(1))) {
            (None, _) => return s.len(),
            (Some(b'\r'), Some(b'\n')) => at = at.saturating_add(2),
            // A bare CR, a CR at the end, or a LF not after a CR (a LF after a CR was
            // stepped over with it).
            (Some(b'\r' | b'\n'), _) => return at,
            (Some(_), _) => at = at.saturating_add(1),
        }
    }
}

/// True when no pair of neighbours in `window` breaks the CRLF rule: for each pair, the
/// first is a CR exactly when the second is a LF.
fn pairs_clean(window: &[u8; WINDOW]) -> bool {
    let (Some(head), Some(tail)) = (window.first_chunk::<BLOCK>(), window.last_chunk::<BLOCK>())
    else {
        return true;
    };
    let mut bad = 0u8;
    for (&a, &b) in head.iter().zip(tail) {
        bad |= u8::from(a == b'\r') ^ u8::from(b == b'\n');
    }
    bad == 0
}

/// The offset in `s` of the first LF followed by `.`: the line after it starts with a dot
/// and must have it doubled (RFC 5321 §4.5.2).
pub(super) fn find_lf_dot(s: &[u8]) -> Option<usize> {
    let mut rest = s;
    while let Some(window) = rest.first_chunk::<WINDOW>() {
        if has_lf_dot(window) {
            break;
        }
        rest = rest.get(BLOCK..).unwrap_or_default();
    }
    let at = s.len().saturating_sub(rest.len());
    rest.windows(2)
        .position(|w| w == b"\n.")
        .map(|p| p.saturating_add(at))
}

/// True when a LF in `window` is followed by `.`.
fn has_lf_dot(window: &[u8; WINDOW]) -> bool {
    let (Some(head), Some(tail)) = (window.first_chunk::<BLOCK>(), window.last_chunk::<BLOCK>())
    else {
        return false;
    };
    let mut hit = 0u8;
    for (&a, &b) in head.iter().zip(tail) {
        hit |= u8::from(a == b'\n') & u8::from(b == b'.');
    }
    hit != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, octet by octet.
    fn clean_prefix_model(s: &[u8]) -> usize {
        let mut i = 0;
        while i < s.len() {
            match (s[i], s.get(i + 1)) {
                (b'\r', Some(b'\n')) => i += 2,
                (b'\r' | b'\n', _) => return i,
                _ => i += 1,
            }
        }
        s.len()
    }

    fn find_lf_dot_model(s: &[u8]) -> Option<usize> {
        s.windows(2).position(|w| w == b"\n.")
    }

    /// Inputs of many lengths around the block size, with the interesting octets at every
    /// position, on clean CRLF text.
    fn inputs() -> Vec<Vec<u8>> {
        let line = b"The quick brown fox.\r\n";
        let mut base = Vec::new();
        while base.len() < 3 * BLOCK + 7 {
            base.extend_from_slice(line);
        }
        let mut out = vec![Vec::new(), b"\n".to_vec(), b"\r".to_vec(), b"\r\n".to_vec()];
        for shift in 0..line.len() {
            // Every alignment of the CRLFs against the blocks.
            let mut v = vec![b'x'; shift];
            v.extend_from_slice(&base);
            out.push(v.clone());
            v.push(b'\r');
            out.push(v);
        }
        for len in [1, 2, 63, 64, 65, 66, 127, 128, 129, base.len()] {
            let clean = base[..len].to_vec();
            out.push(clean.clone());
            for pos in 0..len {
                for b in [b'\r', b'\n', b'.', b'x'] {
                    let mut v = clean.clone();
                    v[pos] = b;
                    out.push(v);
                }
                let mut v = clean.clone();
                v.insert(pos, b'\n');
                v.insert(pos + 1, b'.');
                out.push(v);
            }
        }
        out
    }

    #[test]
    fn clean_prefix_matches_the_definition() {
        for s in inputs() {
            assert_eq!(clean_prefix(&s), clean_prefix_model(&s), "{s:?}");
        }
        // Positive baselines: clean text is clean, and a fault is found.
        assert_eq!(clean_prefix(b"a\r\nb\r\n"), 6);
        assert_eq!(clean_prefix(&[b'a'; 200]), 200);
        let mut long = b"ab\r\n".repeat(40);
        long[100] = b'\n';
        assert_eq!(clean_prefix(&long), 100);
        assert_eq!(clean_prefix(b"ab\r"), 2);
        assert_eq!(clean_prefix(b"\nab"), 0);
    }

    #[test]
    fn find_lf_dot_matches_the_definition() {
        for s in inputs() {
            assert_eq!(find_lf_dot(&s), find_lf_dot_model(&s), "{s:?}");
        }
        assert_eq!(find_lf_dot(b"a\r\n.b"), Some(2));
        assert_eq!(find_lf_dot(b".a\r\nb."), None);
        let mut long = b"ab\r\n".repeat(40);
        long[100] = b'.';
        assert_eq!(find_lf_dot(&long), Some(99));
    }
}
