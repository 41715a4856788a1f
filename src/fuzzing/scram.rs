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
