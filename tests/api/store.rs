//! The store conformance suite: every body runs against PostgreSQL (a fresh database) and the
//! embedded SQLite store (a fresh file), through the one `Store` interface.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use http::{Method, StatusCode};
use pdm_core::dns::{InMemory, ZoneRecord};
use pdm_core::domain::{ManagedDomains, PoolDomain, Subdomain};
use pdm_core::store::{
    Activation, Actor, DnsState, Landed, PgStore, Release, Reservation, ReserveTerms,
    SharedQueries, SqliteStore, State, Store, ZoneRoom, ZoneSeen,
};
use pdm_tests::{LB_IP, POOL, config, request, send_in_process};
use serde_json::json;
use sqlx::PgPool;

/// A test body run once per backend, each on fresh, migrated storage.
macro_rules! store_test {
    ($name:ident, |$store:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($store: Arc<dyn Store>) $body

            #[sqlx::test(migrator = "pdm_core::MIGRATOR")]
            async fn postgresql(db: PgPool) {
                run(Arc::new(PgStore::like(&db))).await;
            }

            #[tokio::test]
            async fn sqlite() {
                let file = SqliteFile::new();
                run(file.store().await).await;
            }
        }
    };
}

/// A SQLite database file of its own, removed with its journal files afterwards.
struct SqliteFile(std::path::PathBuf);

impl SqliteFile {
    fn new() -> Self {
        Self(std::env::temp_dir().join(format!("pdm-store-{}.sqlite", uuid::Uuid::new_v4())))
    }

    async fn store(&self) -> Arc<dyn Store> {
        let store = SqliteStore::new(pdm_core::connect_sqlite(&self.0, 10));
        store.migrate().await.expect("the SQLite schema applies");
        Arc::new(store)
    }
}

impl Drop for SqliteFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

fn pool() -> PoolDomain {
    ManagedDomains::parse(POOL).unwrap().resolve(POOL).unwrap()
}

fn sub(name: &str) -> Subdomain {
    Subdomain::parse(name).unwrap()
}

fn actor() -> Actor {
    Actor {
        name: "tests".to_owned(),
        request_id: Some("req-1".to_owned()),
        reason: None,
        caller: None,
    }
}

const TTL: Duration = Duration::from_secs(600);
const HOSTS: [&str; 2] = ["*", "Console"];

async fn reserve(store: &dyn Store, name: &str, ttl: Duration) -> Reservation {
    store
        .reserve(&pool(), &sub(name), &terms(ttl, None), &actor())
        .await
        .unwrap()
}

/// Settles `version` of `name`'s change alone; whether it did.
async fn settle(store: &dyn Store, name: &str, version: i64) -> bool {
    let landed = Landed {
        sub: name.to_owned(),
        version,
        detail: None,
    };
    let settled = store.settle(&pool(), &[landed], &actor()).await.unwrap();
    settled == [name]
}

/// What the zone owes, read under its lock (given back at once).
async fn owed(store: &dyn Store) -> Vec<pdm_core::store::Allocation> {
    let (lock, owed) = store.lock_owed(ZONE_LOCK, &pool(), None, 10).await.unwrap();
    lock.release().await;
    owed
}

const ZONE_LOCK: &str = "zone:omani.works";

/// Reservation terms refusing names where foreign records stand, as PDM's default does.
fn terms(ttl: Duration, room: Option<(ZoneRoom, usize)>) -> ReserveTerms<'static> {
    ReserveTerms {
        ttl,
        created_by: "creator",
        room,
        refuse_foreign: true,
    }
}

/// Reserves `name` and returns its token.
async fn reserved(store: &dyn Store, name: &str) -> uuid::Uuid {
    match reserve(store, name, TTL).await {
        Reservation::Made(a) => a.reservation_token,
        other => panic!("reserve {name}: {other:?}"),
    }
}

/// What a commit with `token` asks of the store: the test's address and `hosts`, refusing
/// names where records PDM did not write stand, as PDM's default does.
fn activation<'a>(token: uuid::Uuid, fqdn: &'a str, hosts: &'a [String]) -> Activation<'a> {
    Activation {
        token: Some(token),
        sovereign_fqdn: fqdn,
        load_balancer_ip: LB_IP,
        hosts,
        console: None,
        lease: Duration::from_secs(30),
        refuse_foreign: true,
    }
}

/// Reserves and activates `name`; returns the row's DNS version.
async fn activated(store: &dyn Store, name: &str) -> i64 {
    let token = reserved(store, name).await;
    let hosts: Vec<String> = HOSTS.map(str::to_owned).to_vec();
    let fqdn = format!("{name}.{POOL}");
    store
        .activate(
            &pool(),
            &sub(name),
            &activation(token, &fqdn, &hosts),
            &actor(),
        )
        .await
        .unwrap()
        .expect("a live reservation activates")
        .dns_version
}

async fn events(store: &dyn Store, name: &str) -> Vec<String> {
    let history = store.history(&pool(), &sub(name), 100).await.unwrap();
    history.into_iter().map(|e| e.event).collect()
}

store_test!(the_schema_is_applied_and_the_database_answers, |store| {
    let expected = store.migrator().iter().map(|m| m.version).max();

    assert_eq!(store.schema_version().await.unwrap(), expected);
    store.ping().await.unwrap();
});

store_test!(a_reservation_is_found_and_holds_the_name, |store| {
    let made = match reserve(store.as_ref(), "acme", TTL).await {
        Reservation::Made(a) => a,
        other => panic!("{other:?}"),
    };

    let found = store.find(&pool(), &sub("acme")).await.unwrap().unwrap();
    assert_eq!(found, *made);
    assert_eq!(found.state, State::Reserved);
    assert_eq!(found.created_by, "creator");
    assert!(!found.lapsed);
    let expires = found.expires_at.unwrap() - found.reserved_at;
    assert_eq!(expires.whole_seconds(), 600);
    assert_eq!(
        reserve(store.as_ref(), "acme", TTL).await,
        Reservation::Held
    );
    assert_eq!(events(store.as_ref(), "acme").await, ["reserved"]);
    assert!(store.find(&pool(), &sub("other")).await.unwrap().is_none());
});

store_test!(
    twenty_racing_reservations_of_one_name_have_exactly_one_winner,
    |store| {
        let racers = (0..20).map(|_| reserve(store.as_ref(), "contested", TTL));

        let outcomes = join_all(racers).await;

        let winners = outcomes
            .iter()
            .filter(|o| matches!(o, Reservation::Made(_)))
            .count();
        let held = outcomes.iter().filter(|o| **o == Reservation::Held).count();
        assert_eq!((winners, held), (1, 19));
        assert_eq!(events(store.as_ref(), "contested").await, ["reserved"]);
    }
);

store_test!(
    a_lapsed_reservation_is_taken_over_with_a_new_token,
    |store| {
        let first = match reserve(store.as_ref(), "acme", Duration::from_millis(1)).await {
            Reservation::Made(a) => a.reservation_token,
            other => panic!("{other:?}"),
        };
        // Waiting longer only makes it more lapsed.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            store
                .find(&pool(), &sub("acme"))
                .await
                .unwrap()
                .unwrap()
                .lapsed
        );

        let second = reserved(store.as_ref(), "acme").await;

        assert_ne!(first, second);
        assert_eq!(
            events(store.as_ref(), "acme").await,
            ["reserved", "taken-over"]
        );
        assert!(
            !store
                .find(&pool(), &sub("acme"))
                .await
                .unwrap()
                .unwrap()
                .lapsed
        );
    }
);

store_test!(
    activation_needs_the_token_and_owes_dns_the_records,
    |store| {
        let token = reserved(store.as_ref(), "acme").await;
        let hosts: Vec<String> = HOSTS.map(str::to_owned).to_vec();
        let mut activation = activation(uuid::Uuid::new_v4(), "acme.omani.works", &hosts);
        let wrong = store
            .activate(&pool(), &sub("acme"), &activation, &actor())
            .await
            .unwrap();
        activation.token = Some(token);

        let active = store
            .activate(&pool(), &sub("acme"), &activation, &actor())
            .await
            .unwrap()
            .unwrap();

        assert!(wrong.is_none());
        assert_eq!(active.state, State::Active);
        assert_eq!(active.expires_at, None);
        assert_eq!(active.dns_state, DnsState::Pending);
        assert_eq!(active.dns_hosts.as_deref(), Some(&hosts[..]));
        assert_eq!(active.load_balancer_ip.as_deref(), Some(LB_IP));
        assert_eq!(store.pending_count().await.unwrap(), 1);
        let mut owned = store.owned_names(&pool()).await.unwrap();
        owned.sort();
        assert_eq!(owned, ["*.acme", "console.acme"]);
        assert_eq!(store.held_records(&pool(), None, 6).await.unwrap(), 2);
        let history = store.history(&pool(), &sub("acme"), 100).await.unwrap();
        assert_eq!(history[1].event, "committed");
        assert_eq!(history[1].detail.as_deref(), Some(LB_IP));
        assert_eq!(history[1].request_id.as_deref(), Some("req-1"));
    }
);

store_test!(
    settling_the_current_version_syncs_once_and_a_stale_one_does_nothing,
    |store| {
        let version = activated(store.as_ref(), "acme").await;

        let stale = settle(store.as_ref(), "acme", version - 1).await;
        let still = store.find(&pool(), &sub("acme")).await.unwrap().unwrap();
        let current = settle(store.as_ref(), "acme", version).await;
        let synced = store.find(&pool(), &sub("acme")).await.unwrap().unwrap();
        let again = settle(store.as_ref(), "acme", version).await;

        assert_eq!((stale, current, again), (false, true, false));
        assert_eq!(still.dns_state, DnsState::Pending);
        assert_eq!(synced.dns_state, DnsState::Synced);
        assert_eq!(store.pending_count().await.unwrap(), 0);
        assert_eq!(
            events(store.as_ref(), "acme").await,
            ["reserved", "committed", "dns-synced"]
        );
    }
);

store_test!(
    a_batch_settles_in_one_go_only_the_versions_it_applied,
    |store| {
        let acme = activated(store.as_ref(), "acme").await;
        let beta = activated(store.as_ref(), "beta").await;
        let gamma = activated(store.as_ref(), "gamma").await;
        assert!(settle(store.as_ref(), "gamma", gamma).await);
        let Some(Release::Releasing(gamma)) = store
            .release(
                &pool(),
                &sub("gamma"),
                None,
                Duration::from_secs(30),
                &actor(),
            )
            .await
            .unwrap()
        else {
            panic!("gamma is marked releasing");
        };
        let landed = |name: &str, version, detail: Option<&str>| Landed {
            sub: name.to_owned(),
            version,
            detail: detail.map(str::to_owned),
        };

        let mut settled = store
            .settle(
                &pool(),
                &[
                    landed("acme", acme, Some("replaced records PDM did not write: x")),
                    landed("beta", beta - 1, None),
                    landed("gamma", gamma.dns_version, None),
                    landed("nobody", 1, None),
                ],
                &actor(),
            )
            .await
            .unwrap();

        settled.sort();
        assert_eq!(
            settled,
            ["acme", "gamma"],
            "the stale version and the absent row stay"
        );
        let state = async |name| {
            let row = store.find(&pool(), &sub(name)).await.unwrap();
            row.map(|row| row.dns_state)
        };
        assert_eq!(state("acme").await, Some(DnsState::Synced));
        assert_eq!(state("beta").await, Some(DnsState::Pending));
        assert_eq!(state("gamma").await, None, "a release's row goes");
        let acme_history = store.history(&pool(), &sub("acme"), 10).await.unwrap();
        assert_eq!(
            acme_history.last().and_then(|e| e.detail.as_deref()),
            Some("replaced records PDM did not write: x")
        );
        assert_eq!(
            events(store.as_ref(), "gamma").await,
            [
                "reserved",
                "committed",
                "dns-synced",
                "release-requested",
                "released"
            ]
        );
    }
);

store_test!(a_release_is_owed_until_settled_then_the_row_goes, |store| {
    let version = activated(store.as_ref(), "acme").await;
    settle(store.as_ref(), "acme", version).await;
    let lease = Duration::from_secs(30);
    let wrong_token = Some(uuid::Uuid::new_v4());

    let refused = store
        .release(&pool(), &sub("acme"), wrong_token, lease, &actor())
        .await
        .unwrap();
    let Some(Release::Releasing(releasing)) = store
        .release(&pool(), &sub("acme"), None, lease, &actor())
        .await
        .unwrap()
    else {
        panic!("an active allocation is marked releasing");
    };
    let listed = store.list(&pool(), None, None).await.unwrap();
    settle(store.as_ref(), "acme", releasing.dns_version).await;

    assert!(refused.is_none());
    assert!(releasing.releasing_since.is_some());
    assert_eq!(releasing.dns_state, DnsState::Pending);
    assert!(listed.is_empty(), "a releasing row is not listed");
    assert!(store.find(&pool(), &sub("acme")).await.unwrap().is_none());
    assert_eq!(
        events(store.as_ref(), "acme").await,
        [
            "reserved",
            "committed",
            "dns-synced",
            "release-requested",
            "released"
        ]
    );
});

store_test!(a_reservation_is_deleted_only_with_its_token, |store| {
    let token = reserved(store.as_ref(), "acme").await;
    let other = Some(uuid::Uuid::new_v4());

    let lease = Duration::from_secs(30);
    let refused = store
        .release(&pool(), &sub("acme"), other, lease, &actor())
        .await
        .unwrap();
    let deleted = store
        .release(&pool(), &sub("acme"), Some(token), lease, &actor())
        .await
        .unwrap();

    assert!(refused.is_none());
    assert!(matches!(deleted, Some(Release::Freed(a)) if a.reservation_token == token));
    assert!(store.find(&pool(), &sub("acme")).await.unwrap().is_none());
    assert_eq!(
        events(store.as_ref(), "acme").await,
        ["reserved", "released"]
    );
});

store_test!(
    a_failed_change_is_owed_again_once_its_backoff_ends,
    |store| {
        let version = activated(store.as_ref(), "acme").await;
        let fresh = owed(store.as_ref()).await;
        let no_wait = Duration::from_millis(1);

        store
            .defer(
                &pool(),
                &sub("acme"),
                version,
                "provider down",
                no_wait,
                &actor(),
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let due = owed(store.as_ref()).await;

        assert_eq!(fresh.len(), 1, "a fresh change is owed at once");
        assert_eq!(due.len(), 1, "a failed one once its backoff ends");
        assert_eq!(store.zones_owing().await.unwrap(), [POOL]);
        let history = store.history(&pool(), &sub("acme"), 100).await.unwrap();
        let failed = history.last().unwrap();
        assert_eq!(failed.event, "dns-failed");
        assert_eq!(failed.detail.as_deref(), Some("provider down"));
        assert_eq!(store.pending().await.unwrap().len(), 1);
    }
);

/// The read that follows the lock must see what the lock's previous holder settled: a
/// statement waiting for a lock would read with the snapshot it took before waiting, and
/// apply a change DNS already holds (or an older version over a newer one).
#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn what_is_owed_is_read_after_the_zone_lock_is_granted(db: PgPool) {
    let store = Arc::new(PgStore::like(&db));
    let settled_first = activated(store.as_ref(), "acme").await;
    let still_owed = activated(store.as_ref(), "beta").await;
    let holder = store.lock(ZONE_LOCK).await.unwrap();
    let waiting = tokio::spawn({
        let store = store.clone();
        async move {
            let (lock, owed) = store.lock_owed(ZONE_LOCK, &pool(), None, 10).await.unwrap();
            lock.release().await;
            owed
        }
    });
    while pdm_tests::lock_waiters(&db).await == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    assert!(settle(store.as_ref(), "acme", settled_first).await);
    holder.release().await;
    let owed = waiting.await.unwrap();

    let names: Vec<_> = owed
        .iter()
        .map(|a| (a.subdomain.as_str(), a.dns_version))
        .collect();
    assert_eq!(
        names,
        [("beta", still_owed)],
        "acme was settled before the lock was granted"
    );
    assert_eq!(pdm_tests::lock_waiters(&db).await, 0);
}

store_test!(a_change_backing_off_is_not_owed, |store| {
    let version = activated(store.as_ref(), "acme").await;

    store
        .defer(
            &pool(),
            &sub("acme"),
            version,
            "x",
            Duration::from_secs(60),
            &actor(),
        )
        .await
        .unwrap();

    assert!(owed(store.as_ref()).await.is_empty());
    assert!(store.zones_owing().await.unwrap().is_empty());
});

store_test!(
    list_pages_by_subdomain_and_leaves_out_lapsed_rows,
    |store| {
        for i in 0..25 {
            reserved(store.as_ref(), &format!("n{i:02}")).await;
        }
        reserve(store.as_ref(), "lapsed", Duration::from_millis(1)).await;
        tokio::time::sleep(Duration::from_millis(20)).await;

        let mut pages = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = store
                .list(&pool(), after.as_deref(), Some(10))
                .await
                .unwrap();
            if page.is_empty() {
                break;
            }
            after = page.last().map(|a| a.subdomain.clone());
            pages.push(page);
        }

        let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 5]);
        let names: Vec<String> = pages.concat().into_iter().map(|a| a.subdomain).collect();
        let expected: Vec<String> = (0..25).map(|i| format!("n{i:02}")).collect();
        assert_eq!(names, expected);
        assert_eq!(store.list(&pool(), None, None).await.unwrap().len(), 25);
        assert_eq!(store.list_all(&pool()).await.unwrap().len(), 26);
    }
);

store_test!(
    the_sweeper_deletes_lapsed_reservations_in_batches,
    |store| {
        for i in 0..7 {
            reserve(store.as_ref(), &format!("old{i}"), Duration::from_millis(1)).await;
        }
        reserved(store.as_ref(), "live").await;
        tokio::time::sleep(Duration::from_millis(20)).await;

        let first = store.delete_lapsed(5).await.unwrap();
        let second = store.delete_lapsed(5).await.unwrap();
        let third = store.delete_lapsed(5).await.unwrap();

        assert_eq!((first, second, third), (5, 2, 0));
        assert_eq!(store.list_all(&pool()).await.unwrap().len(), 1);
        assert_eq!(
            events(store.as_ref(), "old0").await,
            ["reserved", "expired"]
        );
    }
);

store_test!(
    zone_room_is_saved_and_a_full_zone_refuses_reservations,
    |store| {
        let pools = vec![POOL.to_owned(), "openova.io".to_owned()];
        let stale_before = store
            .stale_zones(&pools, Duration::from_secs(300))
            .await
            .unwrap();
        let room = ZoneRoom {
            record_limit: 10,
            foreign_records: 2,
        };
        let seen = ZoneSeen {
            record_limit: Some(10),
            foreign_records: 2,
            foreign_at_labels: Vec::new(),
        };
        store.save_zone(&pool(), &seen).await.unwrap();
        reserved(store.as_ref(), "first").await;

        // 2 foreign + 6 held + 6 more > 10.
        let full = store
            .reserve(
                &pool(),
                &sub("second"),
                &terms(TTL, Some((room, 6))),
                &actor(),
            )
            .await
            .unwrap();
        let fits = store
            .reserve(
                &pool(),
                &sub("second"),
                &terms(TTL, Some((room, 1))),
                &actor(),
            )
            .await
            .unwrap();

        assert_eq!(stale_before, pools);
        assert_eq!(
            store
                .stale_zones(&pools, Duration::from_secs(300))
                .await
                .unwrap(),
            ["openova.io"]
        );
        assert_eq!(store.zone_room(&pool()).await.unwrap(), Some(room));
        assert_eq!(full, Reservation::Full);
        assert!(matches!(fits, Reservation::Made(_)));
    }
);

store_test!(a_lock_keeps_a_second_holder_out_until_dropped, |store| {
    let first = store.lock("zone:omani.works").await.unwrap();

    let waited =
        tokio::time::timeout(Duration::from_millis(200), store.lock("zone:omani.works")).await;
    let other_key = store.lock("zone:openova.io").await;
    drop(first);
    let second = store.lock("zone:omani.works").await;

    assert!(
        waited.is_err(),
        "the second holder got in while the first held the lock"
    );
    assert!(other_key.is_ok());
    assert!(second.is_ok());
});

store_test!(table_state_counts_live_rows_by_pool_and_state, |store| {
    reserved(store.as_ref(), "r1").await;
    reserved(store.as_ref(), "r2").await;
    activated(store.as_ref(), "a1").await;

    let mut state = store.table_state().await.unwrap();

    state.allocations.sort();
    assert_eq!(
        state.allocations,
        [
            (POOL.to_owned(), "active", 1),
            (POOL.to_owned(), "reserved", 2)
        ]
    );
    assert_eq!(state.dns_pending, 1);
});

store_test!(the_contract_cycle_runs_end_to_end_over_http, |store| {
    // The whole service on this backend: reserve → commit (DNS in memory) → list → release.
    let dns = Arc::new(InMemory::default());
    let ctx = pdm_core::Ctx::with_store(&config(&[]), store.clone(), dns.clone());
    let endpoint = pdm_core::http::Endpoint::router(ctx.clone());
    let send = |method: Method, path: &str, body: Option<serde_json::Value>| {
        send_in_process(
            &endpoint,
            request(method, &format!("/api/v1/pool/{POOL}/{path}"), body),
        )
    };

    let reserve = send(Method::POST, "reserve", Some(json!({"subdomain": "acme"}))).await;
    let token = reserve.body["reservationToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let commit_body =
        json!({"subdomain": "acme", "reservationToken": token, "loadBalancerIP": LB_IP});
    let commit = send(Method::POST, "commit", Some(commit_body)).await;
    let list = send(Method::GET, "list", None).await;
    let check = send(Method::GET, "check?sub=acme", None).await;
    let published = dns.zone(POOL).len();
    let release = send(Method::DELETE, "release?sub=acme", None).await;

    assert_eq!(reserve.status, StatusCode::CREATED, "{:?}", reserve.body);
    assert_eq!(commit.status, StatusCode::OK, "{:?}", commit.body);
    assert_eq!(published, 6);
    assert_eq!(list.body["allocations"][0]["subdomain"], "acme");
    assert_eq!(check.body["reason"], "active-state");
    assert_eq!(release.status, StatusCode::OK, "{:?}", release.body);
    assert!(dns.zone(POOL).is_empty());
    assert!(ctx.pdm.readiness().await.is_ok());
});

store_test!(
    a_change_started_from_a_row_that_moved_on_is_applied_as_the_row_is_now,
    |store| {
        // A commit's DNS change starts from the row its activation returned; by the time it
        // holds the zone's lock, the allocation was released. Publishing that row alone would
        // leave the records behind.
        let dns = Arc::new(InMemory::default());
        let ctx = pdm_core::Ctx::with_store(&config(&[]), store.clone(), dns.clone());
        activated(store.as_ref(), "acme").await;
        let as_activated = store.find(&pool(), &sub("acme")).await.unwrap();
        store
            .release(
                &pool(),
                &sub("acme"),
                None,
                Duration::from_secs(30),
                &actor(),
            )
            .await
            .unwrap();

        let sync = ctx
            .pdm
            .zones()
            .sync(
                &pool(),
                &sub("acme"),
                as_activated.unwrap().dns_version,
                &actor(),
            )
            .await;

        assert_eq!(sync, pdm_core::service::DnsSync::Written);
        assert!(
            dns.zone(POOL).is_empty(),
            "left behind: {:?}",
            dns.zone(POOL)
        );
        assert!(
            store.find(&pool(), &sub("acme")).await.unwrap().is_none(),
            "the released allocation is gone"
        );
        assert_eq!(
            events(store.as_ref(), "acme").await,
            ["reserved", "committed", "release-requested", "released"]
        );
    }
);

store_test!(
    foreign_records_refuse_a_reservation_and_a_commit_in_the_same_statement_unless_adopted,
    |store| {
        let token = reserved(store.as_ref(), "acme").await;
        let console = ZoneRecord::new("console.acme", "A", "192.0.2.200");
        let other = ZoneRecord::new("console.other", "A", "192.0.2.201");
        for (label, record) in [("acme", &console), ("beta", &console), ("other", &other)] {
            store
                .note_foreign_records(&pool(), &sub(label), std::slice::from_ref(record))
                .await
                .unwrap();
        }
        let hosts: Vec<String> = HOSTS.map(str::to_owned).to_vec();
        let mut activation = activation(token, "acme.omani.works", &hosts);
        let refused_commit = store
            .activate(&pool(), &sub("acme"), &activation, &actor())
            .await
            .unwrap();
        let refused_reserve = reserve(store.as_ref(), "beta", TTL).await;
        let free_reserve = reserve(store.as_ref(), "gamma", TTL).await;
        activation.refuse_foreign = false;
        let adopted_commit = store
            .activate(&pool(), &sub("acme"), &activation, &actor())
            .await
            .unwrap();
        let adopting = ReserveTerms {
            refuse_foreign: false,
            ..terms(TTL, None)
        };
        let adopted_reserve = store
            .reserve(&pool(), &sub("beta"), &adopting, &actor())
            .await
            .unwrap();

        assert!(
            refused_commit.is_none(),
            "foreign records refuse the commit"
        );
        assert!(matches!(refused_reserve, Reservation::Held));
        assert!(
            matches!(free_reserve, Reservation::Made(_)),
            "records at another label refuse nothing"
        );
        assert_eq!(adopted_commit.map(|a| a.state), Some(State::Active));
        assert!(matches!(adopted_reserve, Reservation::Made(_)));
        assert_eq!(
            events(store.as_ref(), "acme").await,
            ["reserved", "committed"]
        );
        assert_eq!(events(store.as_ref(), "beta").await, ["reserved"]);
    }
);

store_test!(
    foreign_records_are_known_per_label_and_replaced_by_each_read_of_the_zone,
    |store| {
        let console = ZoneRecord::new("console.acme", "A", "192.0.2.200");
        let api = ZoneRecord::new("api.acme", "CNAME", "elsewhere.example.");
        let beta = ZoneRecord::new("*.beta", "TXT", "hello");
        let seen = |records: &[&ZoneRecord]| ZoneSeen {
            record_limit: None,
            foreign_records: 3,
            foreign_at_labels: records
                .iter()
                .map(|r| (r.name.split_once('.').unwrap().1.to_owned(), (*r).clone()))
                .collect(),
        };
        store
            .save_zone(&pool(), &seen(&[&console, &api, &beta]))
            .await
            .unwrap();

        let at_acme = store
            .foreign_records_at(&pool(), &sub("acme"))
            .await
            .unwrap();
        store.save_zone(&pool(), &seen(&[&beta])).await.unwrap();
        let after_reread = store
            .foreign_records_at(&pool(), &sub("acme"))
            .await
            .unwrap();
        store
            .note_foreign_records(&pool(), &sub("acme"), std::slice::from_ref(&console))
            .await
            .unwrap();
        store
            .note_foreign_records(&pool(), &sub("acme"), std::slice::from_ref(&console))
            .await
            .unwrap();

        assert_eq!(at_acme, [api, console.clone()]);
        assert!(after_reread.is_empty(), "a new read replaces what was seen");
        assert_eq!(
            store
                .foreign_records_at(&pool(), &sub("acme"))
                .await
                .unwrap(),
            [console]
        );
        assert_eq!(
            store.zone_room(&pool()).await.unwrap(),
            None,
            "no limit, no room"
        );
    }
);

store_test!(
    a_refused_commit_goes_back_to_its_reservation_with_its_token_and_expiry,
    |store| {
        let before = match reserve(store.as_ref(), "acme", TTL).await {
            Reservation::Made(made) => *made,
            other => panic!("reserve: {other:?}"),
        };
        let hosts: Vec<String> = HOSTS.map(str::to_owned).to_vec();
        let fqdn = format!("acme.{POOL}");
        let active = store
            .activate(
                &pool(),
                &sub("acme"),
                &activation(before.reservation_token, &fqdn, &hosts),
                &actor(),
            )
            .await
            .unwrap()
            .expect("activated");

        let stale = store
            .refuse(
                &pool(),
                &sub("acme"),
                active.dns_version - 1,
                TTL,
                "old",
                &actor(),
            )
            .await
            .unwrap();
        let refused = store
            .refuse(
                &pool(),
                &sub("acme"),
                active.dns_version,
                TTL,
                "dns-conflict: x",
                &actor(),
            )
            .await
            .unwrap();

        assert!(!stale, "only the version the batch tried");
        assert!(refused);
        let after = store.find(&pool(), &sub("acme")).await.unwrap().unwrap();
        assert_eq!(after.state, State::Reserved);
        assert_eq!(after.reservation_token, before.reservation_token);
        assert_eq!(after.expires_at, before.expires_at);
        assert_eq!(after.load_balancer_ip, None);
        assert_eq!(after.dns_state, DnsState::Synced);
        assert!(owed(store.as_ref()).await.is_empty(), "nothing is owed");
        let history = store.history(&pool(), &sub("acme"), 100).await.unwrap();
        let last = history.last().unwrap();
        assert_eq!(
            (last.event.as_str(), last.detail.as_deref()),
            ("commit-refused", Some("dns-conflict: x"))
        );
    }
);

store_test!(
    a_frozen_pool_refuses_reservations_until_it_is_lifted,
    |store| {
        let frozen = store.freeze(&pool(), "abuse", &actor()).await.unwrap();
        let refused = reserve(store.as_ref(), "acme", TTL).await;
        let seen = store.check_name(&pool(), &sub("acme"), 6).await.unwrap();
        let lifted = store.unfreeze(&pool(), &actor()).await.unwrap();
        let lifted_again = store.unfreeze(&pool(), &actor()).await.unwrap();
        let made = reserve(store.as_ref(), "acme", TTL).await;

        assert_eq!(
            (frozen.reason.as_str(), frozen.frozen_by.as_str()),
            ("abuse", "tests")
        );
        assert!(matches!(refused, Reservation::Held), "{refused:?}");
        assert!(seen.frozen);
        assert!(lifted && !lifted_again);
        assert!(matches!(made, Reservation::Made(_)), "{made:?}");
        assert_eq!(store.freeze_of(&pool()).await.unwrap(), None);
    }
);

store_test!(a_credential_reserves_no_more_than_its_quota, |store| {
    let capped = Actor {
        caller: Some(pdm_core::scope::Caller {
            name: "sov1".to_owned(),
            scopes: pdm_core::scope::Scopes::DEFAULT,
            quota: Some(1),
        }),
        ..actor()
    };
    let reserve_as = |name: &'static str| {
        let store = store.clone();
        let capped = capped.clone();
        async move {
            store
                .reserve(&pool(), &sub(name), &terms(TTL, None), &capped)
                .await
                .unwrap()
        }
    };

    let first = reserve_as("acme").await;
    let second = reserve_as("beta").await;

    assert!(matches!(first, Reservation::Made(ref a) if a.owner.as_deref() == Some("sov1")));
    assert!(
        matches!(second, Reservation::OverQuota { limit: 1, live: 1 }),
        "{second:?}"
    );
});
