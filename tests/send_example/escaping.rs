//! Server text shown to a person or a script never carries terminal controls: a hostile
//! server's greeting, EHLO keywords and replies reach `-v`, the summary and the JSON
//! escaped (`\u{1b}`, `\u{202e}`), never as the raw characters.

use super::*;

/// ESC [2J: clear the screen.
const CLEAR: &str = "\u{1b}[2J";
/// An ANSI colour (red), and the reset.
const RED: &str = "\u{1b}[31m";
const RESET: &str = "\u{1b}[0m";
/// RIGHT-TO-LEFT OVERRIDE: reorders what a reader sees.
const RLO: &str = "\u{202e}";

/// A server (any number of connections, one after another) whose every reply carries
/// controls: the greeting, the EHLO domain line and a keyword's parameters, and the 550
/// to RCPT. MAIL and RSET get 250, QUIT 221; it offers no PIPELINING, so every command
/// waits for its reply.
async fn hostile_server() -> std::net::SocketAddr {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await?;
            let mut stream = BufReader::new(stream);
            let greeting = format!("220 mx.test {CLEAR}ESMTP {RED}red{RESET} {RLO}txt.exe\r\n");
            stream.get_mut().write_all(greeting.as_bytes()).await?;
            let mut line = String::new();
            loop {
                line.clear();
                if stream.read_line(&mut line).await? == 0 {
                    break;
                }
                let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                let reply = match verb.as_str() {
                    "EHLO" => format!(
                        "250-mx.test {CLEAR}hello\r\n250-XEVIL {CLEAR}{RLO}param\r\n\
                         250-ENHANCEDSTATUSCODES\r\n250 SIZE 1000000\r\n"
                    ),
                    "RCPT" => format!("550 5.1.1 {RED}no{RESET} {RLO}such user\r\n"),
                    "QUIT" => "221 2.0.0 bye\r\n".to_owned(),
                    "DATA" => "554 5.5.1 no valid recipients\r\n".to_owned(),
                    _ => "250 2.0.0 ok\r\n".to_owned(),
                };
                stream.get_mut().write_all(reply.as_bytes()).await?;
                if verb == "QUIT" {
                    break;
                }
            }
        }
        #[allow(unreachable_code)]
        Ok::<_, std::io::Error>(())
    });
    addr
}

/// No raw control from the server in `text` (`what` names it in the failure).
fn assert_no_raw_controls(what: &str, text: &str) {
    for (name, raw) in [("ESC", '\u{1b}'), ("U+202E", '\u{202e}')] {
        assert!(!text.contains(raw), "{what} carries a raw {name}: {text:?}");
    }
}

#[tokio::test]
async fn server_text_is_escaped_in_the_transcript_summary_and_json() {
    let addr = hostile_server().await;
    let server = addr.to_string();
    let base = [
        "--server",
        server.as_str(),
        "--tls",
        "skip",
        "--from",
        "me@example.org",
        "--to",
        "a@example.net",
    ];
    // The escaped forms: what a person sees instead of the controls.
    let clear = r"\u{1b}[2J";
    let red = r"\u{1b}[31m";
    let rlo = r"\u{202e}";

    // -v and the human summary.
    let run = send(&[&base[..], &["-v"]].concat()).await;
    assert_eq!(run.status, 69, "stderr: {:?}", run.stderr);
    assert_no_raw_controls("the -v transcript", &run.stderr);
    assert_no_raw_controls("the summary", &run.stdout);
    // The twin: the text itself is there, escaped, in the transcript...
    for want in [
        format!("S: 220 mx.test {clear}ESMTP {red}red"),
        format!("S: 250-XEVIL {clear}{rlo}param"),
        format!("S: 550 5.1.1 {red}no"),
    ] {
        assert!(run.stderr.contains(&want), "{want:?} in {:?}", run.stderr);
    }
    // ... and in the summary (the greeting, the refused recipient).
    for want in [
        format!("220 mx.test {clear}ESMTP {red}red"),
        format!("{rlo}txt.exe"),
        format!("RCPT 550 5.1.1 {red}no"),
        format!("{rlo}such user"),
    ] {
        assert!(run.stdout.contains(&want), "{want:?} in {:?}", run.stdout);
    }

    // --json: neither the JSON text nor the strings it decodes to carry a control.
    let run = send(&[&base[..], &["--json"]].concat()).await;
    assert_eq!(run.status, 69, "stderr: {:?}", run.stderr);
    assert_no_raw_controls("the JSON text", &run.stdout);
    let v = run.json();
    assert_no_raw_controls("the decoded JSON", &v.to_string());
    assert_eq!(
        v["greeting"]["message"],
        format!("mx.test {clear}ESMTP {red}red\\u{{1b}}[0m {rlo}txt.exe")
    );
    assert_eq!(
        v["capabilities"],
        serde_json::json!([
            format!("XEVIL {clear}{rlo}param"),
            "ENHANCEDSTATUSCODES",
            "SIZE 1000000"
        ])
    );
    let tx = &v["transactions"][0];
    let want = format!("{red}no\\u{{1b}}[0m {rlo}such user");
    assert_eq!(recipients(tx)[0]["message"], want);
    assert_eq!(recipients(tx)[0]["enhanced_code"], "5.1.1");
    assert_eq!(tx["error"]["message"], want);
}
