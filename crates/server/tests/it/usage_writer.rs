//! The write-behind buffer of token uses over a real store: a read of a token waits for a use that the
//! background writer has taken but not yet written, and a written use's address goes before the ones the row held.

use std::sync::Arc;

use authority::{TokenStore, UserStore};
use domain::Timestamp;

fn now() -> Timestamp {
    Timestamp::parse("2026-11-22T10:00:00Z").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_read_shows_a_use_that_the_background_writer_is_still_writing() {
    let (db, store, authority) = crate::helpers::authority_on_fresh_store().await;
    let owner = store.insert_user(&store::testing::new_user("owner", now())).await.unwrap();
    let token = store::testing::new_token(owner.id, "used", None, now());
    let token = store.insert_token(&token, &authority::no_audit).await.unwrap();
    let usage = authority.usage().clone();
    let wake = Arc::new(tokio::sync::Notify::new());
    usage.write_in_background({
        let wake = wake.clone();
        move || wake.notify_one()
    });
    let writer = tokio::spawn({
        let (usage, wake) = (usage.clone(), wake.clone());
        async move {
            loop {
                wake.notified().await;
                usage.flush().await.unwrap();
            }
        }
    });
    // The writer takes each use as soon as it is recorded; the read must wait for that write, not find an
    // empty queue and read the row before the write commits.
    for second in 0..100 {
        let at = now().add_millis(second * 1000);
        let address = format!("10.0.0.{second}");
        usage.record_use(token.id, at, Some(&address)).await.unwrap();
        let read = authority.token(token.id).await.unwrap().unwrap();
        assert_eq!(read.last_used_at, Some(at), "use {second}");
        assert_eq!(read.last_used_ips.first(), Some(&address), "use {second}'s address comes first");
        assert_eq!(store.token(token.id).await.unwrap().unwrap().last_used_at, Some(at), "use {second} is stored");
    }
    // The row keeps the five newest addresses, newest first, merged with what it held.
    let ips = authority.token(token.id).await.unwrap().unwrap().last_used_ips;
    assert_eq!(ips, (95..100).rev().map(|i| format!("10.0.0.{i}")).collect::<Vec<_>>());
    writer.abort();
    writer.await.ok();
    drop(authority);
    drop(usage);
    store.close().await;
    db.drop_database().await.unwrap();
}
