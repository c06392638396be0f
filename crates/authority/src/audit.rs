//! The audit log: every credential event, with actor, target, address and time, never with a secret.
//!
//! **Invariant:** an audit entry never holds a secret: details are names, ids and reasons, never a presented
//! string.

use std::future::Future;
use std::pin::Pin;

use domain::NewAuditEvent;

use crate::{Authority, Result};

/// A write a request may have to wait for on a rare path (an audit entry, a token's use), boxed so that the
/// futures of the requests that do not make it stay small: every decision's future is moved whole, and one that
/// held each rare write inline would be hundreds of bytes larger.
pub(crate) type Write<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// Who did something, and from where.
#[derive(Debug, Clone, Default)]
pub struct AuditContext {
    pub author_id: Option<i64>,
    pub author_name: Option<String>,
    pub ip_address: Option<String>,
}

impl Authority {
    /// Records an event. `details` are extra JSON fields; callers never pass a secret. The entry is made now;
    /// the write is boxed (see [`Write`]): it allocates beside a row written to storage.
    pub(crate) fn audit(
        &self,
        ctx: &AuditContext,
        event_name: &str,
        entity_type: &str,
        entity_id: i64,
        message: &str,
        extra: &[(&str, String)],
    ) -> Write<'_> {
        let event = self.audit_record(ctx, event_name, entity_type, entity_id, message, extra);
        Box::pin(async move {
            self.store.insert_audit_event(&event).await?;
            Ok(())
        })
    }

    /// An event as `audit` records it, for a store write that commits it with the change it records.
    pub(crate) fn audit_record(
        &self,
        ctx: &AuditContext,
        event_name: &str,
        entity_type: &str,
        entity_id: i64,
        message: &str,
        extra: &[(&str, String)],
    ) -> NewAuditEvent {
        let mut details = String::from("{");
        push_field(&mut details, "custom_message", message);
        push_field(&mut details, "event_name", event_name);
        if let Some(name) = &ctx.author_name {
            push_field(&mut details, "author_name", name);
        }
        push_field(&mut details, "target_id", &entity_id.to_string());
        push_field(&mut details, "target_type", entity_type);
        if let Some(ip) = &ctx.ip_address {
            push_field(&mut details, "ip_address", ip);
        }
        for (key, value) in extra {
            push_field(&mut details, key, value);
        }
        details.push('}');
        NewAuditEvent {
            author_id: ctx.author_id,
            entity_type: entity_type.to_owned(),
            entity_id,
            event_name: event_name.to_owned(),
            details,
            ip_address: ctx.ip_address.clone(),
            created_at: self.now(),
        }
    }
}

fn push_field(out: &mut String, key: &str, value: &str) {
    if out.len() > 1 {
        out.push(',');
    }
    push_json_string(out, key);
    out.push(':');
    push_json_string(out, value);
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}
