//! Delivers expiry notices: e-mail through a plain SMTP relay (`smtp://host:port`, as a local MTA or a mail
//! relay inside the network takes it) and an optional JSON webhook; and runs the schedule every
//! `expiry_check_interval`.
//!
//! **Invariant:** a notice's text is written only into the message body and a header encoded so that it cannot
//! start a header or a command (no CR or LF reaches the wire from a credential's name), and every step of the
//! SMTP dialogue is bounded in time.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use authority::{Authority, Delivery, NoticeSender};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Each SMTP step and the webhook call are given this long.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// The server's [`NoticeSender`].
pub struct Mailer {
    pub smtp: Option<(String, u16)>,
    pub from: String,
    pub webhook: Option<String>,
}

#[async_trait]
impl NoticeSender for Mailer {
    fn sends_email(&self) -> bool {
        self.smtp.is_some()
    }

    async fn deliver(&self, delivery: &Delivery) -> Result<(), String> {
        if let Some(url) = &self.webhook {
            // A webhook that fails is logged; the e-mail is what is retried.
            if let Err(e) = post_webhook(url.clone(), webhook_body(delivery)).await {
                tracing::warn!(notice = delivery.notice.id, error = %e, "an expiry notice's webhook failed");
            }
        }
        let Some((host, port)) = &self.smtp else { return Ok(()) };
        let to: Vec<&str> = delivery.recipients.iter().map(|u| u.email.as_str()).collect();
        if to.is_empty() {
            return Ok(());
        }
        let message = message(&self.from, &to, &delivery.notice.subject, &delivery.notice.body);
        send_mail(host, *port, &self.from, &to, &message).await
    }
}

/// Runs the schedule now and then every `every`, for as long as the process lives.
pub fn spawn_schedule(authority: &Arc<Authority>, mailer: Arc<Mailer>, every: Duration) {
    let authority = authority.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match authority.run_expiry_notices(&*mailer).await {
                Ok(run) if run.claimed + run.emailed + run.failed > 0 => {
                    tracing::info!(claimed = run.claimed, emailed = run.emailed, failed = run.failed, "expiry notices");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = ?e, "the expiry-notice schedule failed; it runs again later"),
            }
        }
    });
}

fn webhook_body(delivery: &Delivery) -> String {
    let notice = &delivery.notice;
    serde_json::json!({
        "object_kind": "access_token",
        "event_name": format!("expiring_{}", notice.kind.name()),
        "credential_type": notice.kind.name(),
        "credential_id": notice.credential_id,
        "notice": notice.window.as_str(),
        "subject": notice.subject,
        "message": notice.body,
        "recipients": delivery.recipients.iter().map(|u| serde_json::json!({"id": u.id, "username": u.username})).collect::<Vec<_>>(),
    })
    .to_string()
}

async fn post_webhook(url: String, body: String) -> Result<(), String> {
    let call = tokio::task::spawn_blocking(move || {
        let agent = ureq::Agent::config_builder().timeout_global(Some(STEP_TIMEOUT)).build().new_agent();
        agent.post(&url).header("Content-Type", "application/json").send(body.as_bytes()).map(|_| ())
    });
    match call.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// A header value: ASCII as it is, anything else as RFC 2047 base64; never a CR or LF.
fn header_value(text: &str) -> String {
    let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if clean.is_ascii() {
        return clean;
    }
    use base64::Engine;
    format!("=?UTF-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(clean.as_bytes()))
}

/// The message as it goes after `DATA`: headers, a blank line, the body with CRLF line ends and leading dots
/// doubled, and the final `.`.
fn message(from: &str, to: &[&str], subject: &str, body: &str) -> String {
    let mut out = String::new();
    out.push_str(&format!("From: {}\r\n", header_value(from)));
    out.push_str(&format!("To: {}\r\n", to.iter().map(|t| header_value(t)).collect::<Vec<_>>().join(", ")));
    out.push_str(&format!("Subject: {}\r\n", header_value(subject)));
    out.push_str(
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
    );
    for line in body.lines() {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(".\r\n");
    out
}

/// One SMTP reply: its code, after any continuation lines.
async fn reply(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Result<u16, String> {
    loop {
        let mut line = String::new();
        let read = tokio::time::timeout(STEP_TIMEOUT, reader.read_line(&mut line)).await;
        match read {
            Ok(Ok(0)) => return Err("the mail server closed the connection".to_owned()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("the mail server did not answer in time".to_owned()),
        }
        if line.len() > 1000 {
            return Err("the mail server's reply is too long".to_owned());
        }
        let code = line.get(..3).and_then(|c| c.parse::<u16>().ok()).ok_or("a reply without a code")?;
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(code);
        }
    }
}

async fn send_mail(host: &str, port: u16, from: &str, to: &[&str], message: &str) -> Result<(), String> {
    let connect = tokio::time::timeout(STEP_TIMEOUT, TcpStream::connect((host, port))).await;
    let stream = match connect {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(format!("cannot reach the mail server: {e}")),
        Err(_) => return Err("cannot reach the mail server in time".to_owned()),
    };
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut step = async |command: Option<String>, expected: &[u16]| -> Result<(), String> {
        if let Some(command) = command {
            let sent = tokio::time::timeout(STEP_TIMEOUT, write.write_all(command.as_bytes())).await;
            sent.map_err(|_| "the mail server did not take the command in time".to_owned())?
                .map_err(|e| e.to_string())?;
        }
        let code = reply(&mut reader).await?;
        if expected.contains(&code) { Ok(()) } else { Err(format!("the mail server answered {code}")) }
    };
    let address = |a: &str| a.chars().filter(|c| !c.is_control() && !matches!(c, '<' | '>')).collect::<String>();
    step(None, &[220]).await?;
    step(Some("EHLO tessera\r\n".to_owned()), &[250]).await?;
    step(Some(format!("MAIL FROM:<{}>\r\n", address(from))), &[250]).await?;
    for rcpt in to {
        step(Some(format!("RCPT TO:<{}>\r\n", address(rcpt))), &[250, 251]).await?;
    }
    step(Some("DATA\r\n".to_owned()), &[354]).await?;
    step(Some(message.to_owned()), &[250]).await?;
    step(Some("QUIT\r\n".to_owned()), &[221]).await.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_cannot_smuggle_a_header_or_end_early() {
        let text = message("t@x", &["a@x"], "evil\r\nBcc: b@x", "line one\n.\nline three");
        assert!(!text.contains("\r\nBcc:"), "{text}");
        assert!(text.contains("\r\n..\r\n"), "a leading dot is doubled: {text}");
        assert!(text.ends_with("line three\r\n.\r\n"));
        assert_eq!(header_value("Jalapeño token"), "=?UTF-8?B?SmFsYXBlw7FvIHRva2Vu?=");
    }
}
