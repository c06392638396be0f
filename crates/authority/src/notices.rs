//! Expiry notices on GitLab's schedule (60, 30 and 7 days before a credential expires): each claimed once, by
//! whichever node claims it first, with its in-app notifications written in the claim; then its e-mail and
//! webhook are handed to a [`NoticeSender`] (the server's SMTP client and HTTP poster), and a failed e-mail is
//! tried again by the next run of any node.
//!
//! **Invariant:** a notice is sent at most once per credential and window; `authority` decides who is told and
//! what, and does no network I/O itself.

use std::sync::Arc;

use async_trait::async_trait;
use domain::{
    AccessLevel, EmailState, ExpiringCredential, ExpiryNotice, MemberSource, NoticeOwner, NoticeWindow, Notification,
    User, UserType,
};

use crate::{Authority, NewExpiryNotice, Page, Result};

/// Credentials looked at per run (the soonest first); the rest wait for the next run.
const MAX_PER_RUN: i64 = 10_000;
/// E-mail attempts before a notice's e-mail is given up.
const MAX_EMAIL_ATTEMPTS: i64 = 5;
/// A pending e-mail taken on by a node is left to it this long before another node tries it.
const EMAIL_LEASE_MS: i64 = 5 * 60 * 1000;
/// Members of a resource told about its credentials, at most.
const MAX_RECIPIENTS: i64 = 100;

/// A notice ready to go out: what it says and to whom.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub notice: ExpiryNotice,
    /// The recipients, as they are now (blocked users are left out).
    pub recipients: Vec<Arc<User>>,
}

/// Sends what a notice says by e-mail and to the webhook; implemented by the server.
#[async_trait]
pub trait NoticeSender: Send + Sync {
    /// Whether e-mails can be sent at all (a mail server is configured).
    fn sends_email(&self) -> bool;
    /// Sends the e-mail (and calls the webhook, whose failure is not the e-mail's); `Err` says why, for the log.
    async fn deliver(&self, delivery: &Delivery) -> std::result::Result<(), String>;
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoticeRun {
    /// Notices this run claimed (and whose notifications it wrote).
    pub claimed: usize,
    /// E-mails sent.
    pub emailed: usize,
    /// E-mails that failed (tried again later).
    pub failed: usize,
}

impl Authority {
    /// One run of the schedule: claims every notice now due, then sends the e-mails of claimed and pending ones.
    pub async fn run_expiry_notices(&self, sender: &dyn NoticeSender) -> Result<NoticeRun> {
        let now = self.now();
        let today = now.date();
        let until = today.add_days(NoticeWindow::FURTHEST_DAYS);
        let mut run = NoticeRun::default();
        let mut outbox = Vec::new();
        for credential in self.store.expiring_credentials(today, until, MAX_PER_RUN).await? {
            let Some(window) = NoticeWindow::on(today, credential.expires_at) else { continue };
            let recipients = self.notice_recipients(credential.owner).await?;
            if recipients.is_empty() {
                continue;
            }
            let (subject, body) = words(&credential, today.days(), window);
            let email_state = if sender.sends_email() { EmailState::Pending } else { EmailState::Abandoned };
            let notice = NewExpiryNotice {
                kind: credential.kind,
                credential_id: credential.id,
                window,
                recipients: recipients.iter().map(|u| u.id).collect(),
                subject,
                body: body.clone(),
                email_state,
                now,
            };
            let notifications: Vec<Notification> = recipients
                .iter()
                .map(|user| Notification {
                    id: 0,
                    user_id: user.id,
                    kind: format!("{}_expiring", credential.kind),
                    message: body.clone(),
                    created_at: now,
                })
                .collect();
            if let Some(claimed) = self.store.claim_expiry_notice(&notice, &notifications).await? {
                run.claimed += 1;
                if claimed.email_state == EmailState::Pending {
                    outbox.push(Delivery { notice: claimed, recipients });
                }
            }
        }
        // E-mails another run claimed and could not send, once its lease has passed.
        let stale = domain::Timestamp::from_millis(now.millis() - EMAIL_LEASE_MS);
        for notice in self.store.pending_expiry_emails(stale, 100).await? {
            if outbox.iter().any(|d| d.notice.id == notice.id) || !sender.sends_email() {
                continue;
            }
            if self.store.lease_expiry_email(notice.id, notice.claimed_at, now).await? {
                let recipients = self.users_now(&notice.recipients).await?;
                outbox.push(Delivery { notice, recipients });
            }
        }
        for delivery in &outbox {
            match sender.deliver(delivery).await {
                Ok(()) => {
                    run.emailed += 1;
                    self.store.finish_expiry_email(delivery.notice.id, true, MAX_EMAIL_ATTEMPTS).await?;
                }
                Err(why) => {
                    run.failed += 1;
                    tracing::warn!(notice = delivery.notice.id, error = %why, "an expiry notice's e-mail failed");
                    self.store.finish_expiry_email(delivery.notice.id, false, MAX_EMAIL_ATTEMPTS).await?;
                }
            }
        }
        Ok(run)
    }

    /// Who is told about a credential: its user, or the Maintainers and Owners of its project (Owners of its
    /// group), active people only.
    async fn notice_recipients(&self, owner: NoticeOwner) -> Result<Vec<Arc<User>>> {
        let (sources, least) = match owner {
            NoticeOwner::User(id) => return self.users_now(&[id]).await,
            NoticeOwner::Resource(MemberSource::Project(id)) => {
                let Some(project) = self.facts.project(id).await? else { return Ok(Vec::new()) };
                let mut sources: Vec<MemberSource> =
                    project.group_traversal_ids.iter().map(|g| MemberSource::Group(*g)).collect();
                sources.push(MemberSource::Project(id));
                (sources, AccessLevel::Maintainer)
            }
            NoticeOwner::Resource(MemberSource::Group(id)) => {
                let Some(group) = self.facts.group(id).await? else { return Ok(Vec::new()) };
                (group.traversal_ids.iter().map(|g| MemberSource::Group(*g)).collect(), AccessLevel::Owner)
            }
        };
        let page = Page { page: 1, per_page: MAX_RECIPIENTS };
        let (members, _) = self.store.list_members(&sources, true, page).await?;
        let today = self.now().date();
        let ids: Vec<i64> = members
            .iter()
            .filter(|m| m.access_level >= least && m.expires_at.is_none_or(|d| d > today))
            .map(|m| m.user_id)
            .collect();
        self.users_now(&ids).await
    }

    /// The users among `ids` who can be told now: active people (no bots).
    async fn users_now(&self, ids: &[i64]) -> Result<Vec<Arc<User>>> {
        let mut users = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(user) = self.facts.user(*id).await?
                && user.is_active()
                && user.user_type != UserType::ProjectBot
            {
                users.push(user);
            }
        }
        Ok(users)
    }
}

/// The subject and text of a notice.
fn words(credential: &ExpiringCredential, today: i64, window: NoticeWindow) -> (String, String) {
    let what = credential.kind.name().replace('_', " ");
    let days = credential.expires_at.days() - today;
    let when = if days == 1 { "tomorrow".to_owned() } else { format!("in {days} days") };
    let subject = format!("Your {what} \"{}\" expires {when}", credential.name);
    let body = format!(
        "Your {what} \"{}\" (id {}) expires on {} ({when}). Rotate or replace it before then to avoid an \
         interruption. ({} notice)",
        credential.name,
        credential.id,
        credential.expires_at,
        window.as_str().replace('_', " "),
    );
    (subject, body)
}
