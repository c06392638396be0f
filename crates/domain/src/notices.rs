//! Expiry notices: GitLab's schedule of warnings before a credential expires (60, 30 and 7 days), each sent once
//! per credential, to its owner or, for a project's or group's credential, to those who manage it.
//!
//! **Invariant:** a credential gets at most one notice per window, and none once it has expired.

use crate::{CredentialKind, Date, MemberSource, Timestamp};

/// One of GitLab's notice windows, by the days left before expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeWindow {
    /// 31 to 60 days left.
    SixtyDays,
    /// 8 to 30 days left.
    ThirtyDays,
    /// 1 to 7 days left.
    SevenDays,
}

impl NoticeWindow {
    /// The window a credential expiring on `expires` is in on `today`; `None` when it is further off or has
    /// expired (a credential expires at 00:00 UTC of its date).
    pub fn on(today: Date, expires: Date) -> Option<NoticeWindow> {
        match expires.days() - today.days() {
            1..=7 => Some(NoticeWindow::SevenDays),
            8..=30 => Some(NoticeWindow::ThirtyDays),
            31..=60 => Some(NoticeWindow::SixtyDays),
            _ => None,
        }
    }

    /// The furthest a window reaches, in days.
    pub const FURTHEST_DAYS: i64 = 60;

    /// GitLab's name of the window (`seven_days_notification_sent_at`'s).
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeWindow::SixtyDays => "sixty_days",
            NoticeWindow::ThirtyDays => "thirty_days",
            NoticeWindow::SevenDays => "seven_days",
        }
    }

    /// Reads the stored form, exactly.
    pub fn parse(s: &str) -> Option<NoticeWindow> {
        [NoticeWindow::SixtyDays, NoticeWindow::ThirtyDays, NoticeWindow::SevenDays]
            .into_iter()
            .find(|w| w.as_str() == s)
    }
}

/// Who a credential's notices go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeOwner {
    /// A user's own credential: the user.
    User(i64),
    /// A project's or group's credential (an access token's bot, a deploy token): the project's Maintainers and
    /// Owners, or the group's Owners.
    Resource(MemberSource),
}

/// A credential that expires within the furthest window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringCredential {
    /// Its kind.
    pub kind: CredentialKind,
    /// Its id among its kind's.
    pub id: i64,
    /// Its name (a trigger's description, a feed token's kind).
    pub name: String,
    /// The date it expires on.
    pub expires_at: Date,
    /// Who is told.
    pub owner: NoticeOwner,
}

/// How far the e-mail of a notice has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailState {
    /// Not sent yet (or to be tried again).
    Pending,
    /// Sent.
    Sent,
    /// Given up after repeated failures, or no mail server is configured.
    Abandoned,
}

impl EmailState {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            EmailState::Pending => "pending",
            EmailState::Sent => "sent",
            EmailState::Abandoned => "abandoned",
        }
    }

    /// Reads the stored form, exactly.
    pub fn parse(s: &str) -> Option<EmailState> {
        [EmailState::Pending, EmailState::Sent, EmailState::Abandoned].into_iter().find(|e| e.as_str() == s)
    }
}

/// A notice claimed by one node: its in-app notifications were written with the claim, its e-mail and webhook
/// are delivered after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryNotice {
    /// Its id.
    pub id: i64,
    /// The credential's kind.
    pub kind: CredentialKind,
    /// The credential's id.
    pub credential_id: i64,
    /// The window it was sent in.
    pub window: NoticeWindow,
    /// The users it is for.
    pub recipients: Vec<i64>,
    /// Its subject line.
    pub subject: String,
    /// Its text.
    pub body: String,
    /// How far its e-mail has gone.
    pub email_state: EmailState,
    /// E-mail attempts made.
    pub attempts: i64,
    /// When a node last took it on.
    pub claimed_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_windows_are_gitlabs_and_an_expired_credential_is_in_none() {
        let today = Date::parse("2026-12-06").unwrap_or(Date::from_days(0));
        let on = |days: i64| NoticeWindow::on(today, today.add_days(days));
        assert_eq!(on(0), None, "expires today: already expired at 00:00");
        assert_eq!(on(1), Some(NoticeWindow::SevenDays));
        assert_eq!(on(7), Some(NoticeWindow::SevenDays));
        assert_eq!(on(8), Some(NoticeWindow::ThirtyDays));
        assert_eq!(on(30), Some(NoticeWindow::ThirtyDays));
        assert_eq!(on(31), Some(NoticeWindow::SixtyDays));
        assert_eq!(on(60), Some(NoticeWindow::SixtyDays));
        assert_eq!(on(61), None);
        for window in [NoticeWindow::SixtyDays, NoticeWindow::ThirtyDays, NoticeWindow::SevenDays] {
            assert_eq!(NoticeWindow::parse(window.as_str()), Some(window));
        }
    }
}
