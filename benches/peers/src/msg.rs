//! What every process agrees on: the envelope, the message for a given size, and the
//! `--key value` argument lists the orchestrator passes to its children.

use std::collections::HashMap;

pub(crate) const FROM: &str = "sender@example.org";
pub(crate) const HELO: &str = "client.example.org";
/// The name the sink's certificate is issued for and every client verifies; the sink
/// listens on this address.
pub(crate) const HOST: &str = "127.0.0.1";

/// `r1@example.net` .. `rN@example.net`.
pub(crate) fn recipients(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("r{i}@example.net")).collect()
}

/// A message of exactly `size` bytes (at least the headers): CRLF line endings, 7-bit, and
/// every 16th body line starts with a dot, so DATA clients must dot-stuff it.
pub(crate) fn message(size: usize) -> Vec<u8> {
    let mut m = b"From: Sender <sender@example.org>\r\nTo: <r1@example.net>\r\n\
        Subject: peer benchmark\r\nMessage-ID: <peers@example.org>\r\n\r\n"
        .to_vec();
    const LINE: &[u8] = b"The quick brown fox jumps over the lazy dog, again and again.\r\n";
    let mut i = 0;
    while m.len() + LINE.len() + 1 + 4 < size {
        if i % 16 == 6 {
            m.push(b'.');
        }
        m.extend_from_slice(LINE);
        i += 1;
    }
    if m.len() + 2 < size {
        m.resize(size - 2, b'x');
        m.extend_from_slice(b"\r\n");
    }
    m
}

/// `--key value` pairs and bare `--flag`s; a flag is stored with the value "true".
pub(crate) fn parse_kv(args: &[String]) -> Result<HashMap<String, String>, String> {
    let mut map = HashMap::new();
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        let key = a
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {a:?}"))?;
        let value = match it.peek() {
            Some(v) if !v.starts_with("--") => it.next().cloned().unwrap_or_default(),
            _ => "true".to_owned(),
        };
        map.insert(key.to_owned(), value);
    }
    Ok(map)
}

/// Reads `key` from a parsed argument list, or `default` when it is absent.
pub(crate) fn get<T: std::str::FromStr>(
    map: &HashMap<String, String>,
    key: &str,
    default: T,
) -> Result<T, String> {
    match map.get(key) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| format!("--{key}: bad value {v:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_has_the_exact_size_and_dot_lines() {
        for size in [1024, 100 * 1024, 4000] {
            let m = message(size);
            assert_eq!(m.len(), size);
            assert!(m.ends_with(b"\r\n"));
            assert!(m.windows(3).any(|w| w == b"\n.T"));
        }
    }
}
