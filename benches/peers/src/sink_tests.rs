//! The sink's parser, fed the way `serve` feeds it (any split of the byte stream).

use super::*;

fn conn(size: usize, rcpts: usize) -> Conn {
    Conn::new(Arc::new(Shared {
        body: msg::message(size),
        rcpts: msg::recipients(rcpts),
        delay: Duration::ZERO,
        tls: None,
        counters: Counters::default(),
    }))
}

/// Feeds `input` in pieces of `step` bytes; returns the replies.
fn feed(c: &mut Conn, input: &[u8], step: usize) -> String {
    let mut buf = Vec::new();
    for piece in input.chunks(step) {
        buf.extend_from_slice(piece);
        let used = c.process(&buf);
        buf.drain(..used);
    }
    String::from_utf8(std::mem::take(&mut c.out)).unwrap()
}

fn counts(c: &Conn) -> (u64, u64, u64) {
    let k = &c.shared.counters;
    let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
    (l(&k.ok), l(&k.bad), l(&k.extra_crlf))
}

fn envelope(rcpts: usize) -> Vec<u8> {
    let mut v = b"EHLO c\r\nMAIL FROM:<sender@example.org> SIZE=1024\r\n".to_vec();
    for r in msg::recipients(rcpts) {
        v.extend_from_slice(format!("RCPT TO:<{r}>\r\n").as_bytes());
    }
    v
}

fn stuffed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in body.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[test]
fn bdat_last_split_anywhere_is_one_good_message() {
    let body = msg::message(1024);
    for step in [1, 7, 100, 4096] {
        let mut c = conn(1024, 2);
        let mut input = envelope(2);
        input.extend_from_slice(format!("BDAT {} LAST\r\n", body.len()).as_bytes());
        input.extend_from_slice(&body);
        input.extend_from_slice(b"QUIT\r\n");
        let replies = feed(&mut c, &input, step);
        assert!(
            replies.ends_with("250 2.0.0 Ok: queued as S1\r\n221 2.0.0 Bye\r\n"),
            "{replies}"
        );
        assert!(replies.contains("250-CHUNKING\r\n") && replies.contains("250-PIPELINING\r\n"));
        assert_eq!(counts(&c), (1, 0, 0));
    }
}

#[test]
fn bdat_in_two_chunks_is_one_message() {
    let body = msg::message(1024);
    let mut c = conn(1024, 1);
    let mut input = envelope(1);
    input.extend_from_slice(b"BDAT 100\r\n");
    input.extend_from_slice(&body[..100]);
    input.extend_from_slice(format!("BDAT {} LAST\r\n", body.len() - 100).as_bytes());
    input.extend_from_slice(&body[100..]);
    let replies = feed(&mut c, &input, 50);
    assert!(replies.ends_with("250 2.0.0 chunk received\r\n250 2.0.0 Ok: queued as S1\r\n"));
    assert_eq!(counts(&c), (1, 0, 0));
}

#[test]
fn bdat_with_a_changed_byte_is_refused_and_counted_bad() {
    let mut body = msg::message(1024);
    body[500] ^= 1;
    let mut c = conn(1024, 1);
    let mut input = envelope(1);
    input.extend_from_slice(format!("BDAT {} LAST\r\n", body.len()).as_bytes());
    input.extend_from_slice(&body);
    assert!(
        feed(&mut c, &input, 4096).ends_with("554 5.6.0 message differs from the one expected\r\n")
    );
    assert_eq!(counts(&c), (0, 1, 0));
}

#[test]
fn bdat_without_a_transaction_is_read_and_refused() {
    let mut c = conn(1024, 1);
    let replies = feed(&mut c, b"EHLO c\r\nBDAT 5 LAST\r\nhelloNOOP\r\n", 3);
    assert!(
        replies.ends_with("503 5.5.1 no valid transaction\r\n250 2.0.0 Ok\r\n"),
        "{replies}"
    );
    assert_eq!(counts(&c), (0, 0, 0));
}

#[test]
fn data_is_unstuffed_and_counted() {
    let body = msg::message(4000);
    let mut c = conn(4000, 1);
    let mut input = envelope(1);
    input.extend_from_slice(b"DATA\r\n");
    input.extend_from_slice(&stuffed(&body));
    let replies = feed(&mut c, &input, 13);
    assert!(
        replies.ends_with("354 end data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as S1\r\n")
    );
    assert_eq!(counts(&c), (1, 0, 0));
}

#[test]
fn data_not_dot_stuffed_is_counted_bad() {
    let body = msg::message(4000);
    let mut c = conn(4000, 1);
    let mut input = envelope(1);
    input.extend_from_slice(b"DATA\r\n");
    input.extend_from_slice(&body);
    input.extend_from_slice(b".\r\n");
    feed(&mut c, &input, 4096);
    assert_eq!(counts(&c), (0, 1, 0));
}

#[test]
fn data_with_one_extra_empty_line_is_good_but_noted() {
    let body = msg::message(1024);
    let mut c = conn(1024, 1);
    let mut input = envelope(1);
    input.extend_from_slice(b"DATA\r\n");
    let mut data = stuffed(&body);
    data.truncate(data.len() - 3);
    data.extend_from_slice(b"\r\n.\r\n");
    input.extend_from_slice(&data);
    feed(&mut c, &input, 4096);
    assert_eq!(counts(&c), (1, 0, 1));
}

#[test]
fn wrong_recipients_are_counted_bad() {
    let body = msg::message(1024);
    let mut c = conn(1024, 2);
    let mut input = envelope(1);
    input.extend_from_slice(format!("BDAT {} LAST\r\n", body.len()).as_bytes());
    input.extend_from_slice(&body);
    feed(&mut c, &input, 4096);
    assert_eq!(counts(&c), (0, 1, 0));
}
