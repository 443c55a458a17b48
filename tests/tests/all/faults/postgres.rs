//! The journal's Postgres failing under order traffic: its connections terminated, the journal
//! table unwritable, the server restarted. Orders answer 503 with retry advice meanwhile; no
//! acknowledged order is lost or made twice; the books equal the journal's replay; the same
//! process serves again afterwards.

use std::sync::Arc;
use std::time::Duration;

use bourse_tests::journal;
use bourse_tests::process::{self, HostProcess};
use bourse_tests::services::PrivatePostgres;

use super::load::{Load, assert_kept_once, assert_retry_advice};

const TRADERS: [&str; 3] = ["f1", "f2", "f3"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_failures_under_load_lose_and_duplicate_no_order() {
    let pg = Arc::new(
        tokio::task::spawn_blocking(PrivatePostgres::start)
            .await
            .expect("start"),
    );
    let data_dir = process::data_dir();
    let host = HostProcess::start(&pg.url(), &data_dir, &[("BOURSE_MATCHING_SHARDS", "2")]).await;
    let mut keys = Vec::new();
    for trader in TRADERS {
        keys.push(bourse_tests::replicas::api_key(&host.url, trader, &["trader"]).await);
    }
    let load = Load::start(6, std::slice::from_ref(&host.url), &keys);
    let admin = sqlx::PgPool::connect(&pg.url()).await.expect("admin");
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // 1. The server terminates every connection of the host.
    load.enter(1);
    let terminated: i64 = sqlx::query_scalar(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = 'bourse' AND pid <> pg_backend_pid()",
    )
    .fetch_one(&admin)
    .await
    .expect("terminate");
    assert!(terminated > 0, "the host had connections to terminate");
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // 2. The journal refuses writes for a while.
    load.enter(2);
    let before = load.retried();
    for statement in [
        "CREATE FUNCTION refuse_writes() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'the journal is unwritable (fault test)'; END $$",
        "CREATE TRIGGER unwritable BEFORE INSERT ON journal \
         FOR EACH STATEMENT EXECUTE FUNCTION refuse_writes()",
    ] {
        sqlx::query(statement)
            .execute(&admin)
            .await
            .expect(statement);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let refused_while_unwritable = load.retried() - before;
    sqlx::query("DROP TRIGGER unwritable ON journal")
        .execute(&admin)
        .await
        .expect("drop trigger");
    admin.close().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // 3. Postgres goes down for two seconds and comes back (its sessions gone).
    load.enter(3);
    let down = pg.clone();
    tokio::task::spawn_blocking(move || down.down("fast"))
        .await
        .expect("stop Postgres");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let up = pg.clone();
    tokio::task::spawn_blocking(move || up.up())
        .await
        .expect("start Postgres");

    // 4. Afterwards the same process serves orders again.
    load.enter(4);
    load.until_acked(50, Duration::from_secs(30)).await;
    let seen = load.finish().await;
    assert!(seen.wrong.is_empty(), "unexcused answers: {:?}", seen.wrong);
    for p in 0..=4 {
        println!("phase {p}: {} orders acknowledged", seen.acked_in(p));
    }
    println!("{} answers retried", seen.retried.len());
    assert!(seen.acked_in(0) > 20, "the load ran before the faults");
    assert!(
        seen.acked_in(4) >= 50,
        "orders are served again without a restart of the host"
    );
    assert!(
        refused_while_unwritable > 0,
        "an unwritable journal refuses orders"
    );
    assert_retry_advice(&seen);

    let host_hashes = journal::host_hashes(&host.url).await;
    let replay = journal::replay(&pg.url(), 2).await;
    assert_kept_once(&seen, &host.url, &keys, &TRADERS, &replay).await;
    host.kill();
    assert_eq!(
        host_hashes, replay.hashes,
        "the books equal the journal's replay"
    );
    let _ = std::fs::remove_dir_all(&data_dir);
}
