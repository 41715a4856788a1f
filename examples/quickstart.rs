//! The smallest complete use of smtp-courier: connect, send one message to two recipients,
//! read each recipient's outcome, and QUIT.
//!
//! It needs no outside server: it starts the test sink from `support/sink.rs` on
//! 127.0.0.1, which refuses any recipient whose local part starts with `reject`. So one
//! recipient is delivered and the other is refused with `550 5.1.1`, and the example shows
//! that one refused RCPT never sinks the others: each recipient has its own result in the
//! [`TransactionReport`]. Run it with `cargo run --example quickstart`.

#[path = "support/sink.rs"]
mod sink;

use smtp_courier::tls::{TlsConfig, TlsMode};
use smtp_courier::{Client, ClientConfig, Envelope, RecipientStatus, TransactionReport};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sink = sink::Sink::start().await?;
    println!("sink listening on {}", sink.addr());

    // Greeting, then EHLO (HELO if the server does not know EHLO). The default is to
    // require STARTTLS with a verified certificate, as a real submission server or relay
    // needs; the sink is a plaintext server inside this process, on 127.0.0.1, so TLS is
    // skipped here, explicitly. Against a real server, leave the default.
    let config = ClientConfig::new("client.example.org")?.tls(TlsConfig::new(TlsMode::Skip));
    let mut client = Client::connect(sink.addr(), config).await?;
    if let Some(caps) = client.capabilities() {
        println!(
            "server offers: {}",
            caps.keywords_escaped().collect::<Vec<_>>().join(", ")
        );
    }

    let envelope = Envelope::new(
        "sender@example.org",
        ["friend@example.net", "reject@example.net"],
    )?;
    let message = b"From: <sender@example.org>\r\n\
        To: <friend@example.net>, <reject@example.net>\r\n\
        Subject: hello from smtp-courier\r\n\
        \r\n\
        Hi! The next line starts with a dot, which goes on the wire doubled.\r\n\
        .signature\r\n";
    // MAIL, both RCPTs and DATA go out in one pipelined write; `Err` here would mean the
    // transaction could not even start. Everything after that is in the report.
    let report = client.send_bytes(&envelope, message).await?;
    print_report(&report);

    client.quit().await?;

    for received in sink.messages() {
        println!(
            "\nthe sink received, from <{}> for {:?}:",
            received.mail_from, received.rcpt_to
        );
        print!("{}", String::from_utf8_lossy(&received.data));
    }
    Ok(())
}

fn print_report(report: &TransactionReport) {
    for rcpt in &report.recipients {
        let status = match rcpt.status() {
            RecipientStatus::Delivered => "delivered",
            RecipientStatus::Permanent => "refused permanently",
            RecipientStatus::Transient => "refused for now",
        };
        let command = rcpt.command().map_or("-".to_owned(), |c| c.to_string());
        match rcpt.reply() {
            Some(reply) => {
                let enhanced = reply
                    .enhanced_code()
                    .map_or("-".to_owned(), |e| e.to_string());
                println!(
                    "{}: {status} (after {command}: code {}, enhanced code {enhanced}, message {:?})",
                    rcpt.address,
                    reply.code(),
                    reply.message(),
                );
            }
            // No reply decided it: the connection was lost or timed out.
            None => match &rcpt.result {
                Err(e) => println!("{}: {status} ({e})", rcpt.address),
                Ok(_) => println!("{}: {status}", rcpt.address),
            },
        }
    }
    if let Some(err) = &report.error {
        println!("the transaction failed as a whole: {err}");
    }
}
