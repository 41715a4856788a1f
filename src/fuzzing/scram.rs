//! The SCRAM client under arbitrary server messages (test and fuzz code, not API).

/// The SCRAM client fed arbitrary server messages (RFC 5802): `data` is the server-first
/// message, then a NUL, then the server-final message. The first byte picks SHA-1 or
/// SHA-256 and whether the final message comes in a `334` (a step) or with the `235`.
///
/// Properties: no panic; a client-final message is sent only when the server nonce
/// extends the client nonce and the iteration count is in
/// `MIN_ITERATIONS..=MAX_ITERATIONS`; success only with a `v=` server-final message.
/// Iteration counts above 10,000 are skipped to keep executions fast (the bound itself is
/// unit-tested in `auth::scram`).
pub fn scram_server_messages(data: &[u8]) {
    use crate::auth::{
        ChannelBinding, Credentials, MAX_ITERATIONS, MIN_ITERATIONS, Mechanism, SaslClient, Scram,
        Step,
    };

    const NONCE: &str = "fyko+d2lbbFgONRv9qkxdawL";
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (server_first, server_final) = match rest.iter().position(|b| *b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let iterations = std::str::from_utf8(server_first)
        .ok()
        .and_then(|t| t.split(',').find_map(|a| a.strip_prefix("i=")))
        .map(|i| i.parse::<u64>().unwrap_or(u64::MAX));
    if iterations.is_some_and(|i| i > 10_000 && i <= u64::from(MAX_ITERATIONS)) {
        return;
    }
    let mechanism = if selector & 1 == 0 {
        Mechanism::ScramSha1
    } else {
        Mechanism::ScramSha256
    };
    let creds = Credentials::new("user", "pencil");
    let mut scram = Scram::with_nonce(mechanism, &creds, ChannelBinding::None, NONCE)
        .expect("a valid nonce and a password");
    assert!(matches!(scram.step(None), Ok(Step::Respond(_))));
    let answered = scram.step(Some(server_first));
    if answered.is_ok() {
        let text = std::str::from_utf8(server_first).expect("accepted means UTF-8");
        let nonce = text
            .split(',')
            .find_map(|a| a.strip_prefix("r="))
            .expect("a nonce");
        assert!(
            nonce.len() > NONCE.len() && nonce.starts_with(NONCE),
            "{text:?}"
        );
        let i = iterations.expect("an iteration count");
        assert!((u64::from(MIN_ITERATIONS)..=u64::from(MAX_ITERATIONS)).contains(&i));
    } else {
        return;
    }
    let accepted = if selector & 2 == 0 {
        // Dovecot: the server-final message as a 334 challenge, then 235.
        scram.step(Some(server_final)).is_ok() && scram.finish(None).is_ok()
    } else {
        scram.finish(Some(server_final)).is_ok()
    };
    if accepted {
        assert!(server_final.starts_with(b"v="), "accepted {server_final:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Positive baselines: the checks above must see deliveries and refusals, or a broken
    /// harness would pass everything.
    #[test]
    fn session_feed_baselines() {
        let greeting = "220 mx.test.example ESMTP\r\n";
        let ehlo = "250-mx.test.example\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n";
        let ok = format!(
            "\x00\x10{greeting}{ehlo}250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no\r\n\
             354 go\r\n250 2.0.0 queued\r\n"
        );
        let seen = run_session(ok.as_bytes());
        let report = &seen.reports[0].0;
        assert_eq!(report.delivered().count(), 1);
        assert_eq!(seen.reports[0].1, Some(6));
        // Not pipelined, three recipients, the data refused.
        let mut refused = vec![0x11, 0x85];
        refused.extend_from_slice(
            format!("{greeting}{ehlo}250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n554 no\r\n")
                .as_bytes(),
        );
        let seen = run_session(&refused);
        assert_eq!(seen.reports[0].0.delivered().count(), 0);
        assert!(seen.reports[0].0.error.is_some() && seen.reports[0].1.is_some());
        // Two transactions on one connection: the first refused, so RSET goes first.
        let mut two = vec![0x80, 0x10];
        two.extend_from_slice(
            format!(
                "{greeting}{ehlo}250 ok\r\n550 no\r\n550 no\r\n554 no valid recipients\r\n\
                 250 reset\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n"
            )
            .as_bytes(),
        );
        let seen = run_session(&two);
        assert_eq!(seen.mail_started, 2);
        assert_eq!(seen.reports[0].0.delivered().count(), 0);
        assert_eq!(seen.reports[1].0.delivered().count(), 2);
        assert_eq!(seen.reports[1].1, Some(11));
        // A refused greeting: no transaction, the session says why.
        let seen = run_session(b"\x00\x00554 no service\r\n");
        assert!(seen.mail_started == 0 && seen.reports.is_empty());
        // Lock-step, a 421 to the second of three RCPTs: nothing more goes out (the
        // property in `run_session`), and every recipient is left transient.
        let mut closing = vec![0x11, 0x00];
        closing.extend_from_slice(
            format!("{greeting}{ehlo}250 ok\r\n250 ok\r\n421 4.3.2 closing\r\n").as_bytes(),
        );
        let seen = run_session(&closing);
        let report = &seen.reports[0].0;
        assert!(report.is_failed());
        assert!(
            report
                .recipients
                .iter()
                .all(|r| r.status() == crate::proto::RecipientStatus::Transient)
        );
    }

    #[test]
    fn dot_stuff_and_parser_baselines() {
        assert_eq!(normalize(b"a\nb\r\r\nc"), b"a\r\nb\r\n\r\nc\r\n");
        assert_eq!(first_bare(b"a\r\nb\rc\n"), Some(BodyError::BareCr(4)));
        assert_eq!(first_bare(b"a\r\n"), None);
        dot_stuff_roundtrip(b"\x05a\n.\nb\r.\r\n");
        let parsed = parse_parts(chunks(b"250-a\r\n250 b\r\n354 go\r\n", 0x81));
        assert_eq!(parsed.replies.len(), 2);
        reply_parser(b"250-a\r\n250 b\r\n354 go\r\n");
        ehlo_capabilities(b"250-x\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n");
    }
}
