//! Invalidation comes from the store's commits, not from the path a write took: a write made on the store
//! directly, past every use case of `authority`, is seen by the next decision.

use authority::{Presented, Request, TokenStore, UserStore, UserUpdate};
use domain::{Channel, UserState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_the_store_itself_is_seen_by_the_next_decision() {
    let (db, store, authority) = crate::helpers::authority_on_fresh_store().await;
    let (admin, token) = authority.bootstrap("root@example.com").await.unwrap().unwrap();
    let credential = Presented { secret: &token, channel: Channel::PrivateTokenHeader, username: None };
    let request = Request { credential: Some(credential), method: "GET", target: "/api/v4/user", ..Request::default() };
    assert!(authority.decide_request(&request).await.unwrap().allowed);
    assert!(authority.decide_request(&request).await.unwrap().allowed, "now from the fact cache");
    assert!(!authority.cache().is_empty());

    let blocked = UserUpdate { state: Some(UserState::Blocked), ..UserUpdate::default() };
    store.update_user(admin.id, &blocked, authority.now()).await.unwrap();
    let outcome = authority.decide_request(&request).await.unwrap();
    assert!(!outcome.allowed && outcome.bad_credential, "the block is seen at once");

    let active = UserUpdate { state: Some(UserState::Active), ..UserUpdate::default() };
    store.update_user(admin.id, &active, authority.now()).await.unwrap();
    assert!(authority.decide_request(&request).await.unwrap().allowed);
    let (tokens, _) = authority
        .list_tokens(&authority::TokenFilter::default(), authority::Page { page: 1, per_page: 10 })
        .await
        .unwrap();
    store.revoke_token(tokens[0].id, authority.now(), None).await.unwrap();
    let outcome = authority.decide_request(&request).await.unwrap();
    assert!(!outcome.allowed && outcome.bad_credential, "the revocation is seen at once");

    drop(authority);
    store.close().await;
    db.drop_database().await.unwrap();
}
