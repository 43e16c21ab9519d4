use futures::future::join_all;
use http::StatusCode;
use pdm_tests::{LB_IP, POOL, TestApp};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

const RACERS: usize = 50;

/// Two apps with a connection pool each: two replicas sharing one database.
async fn two_replicas(options: PgPoolOptions, connect: PgConnectOptions) -> [TestApp; 2] {
    let pool = || {
        options
            .clone()
            .max_connections(10)
            .connect_with(connect.clone())
    };
    [
        TestApp::new(pool().await.unwrap()),
        TestApp::new(pool().await.unwrap()),
    ]
}

fn tally(statuses: &[StatusCode]) -> (usize, usize) {
    let winners = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let losers = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    (winners, losers)
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn fifty_concurrent_reserves_across_two_replicas_have_exactly_one_winner(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    // Arrange
    let replicas = two_replicas(options, connect).await;

    // Act
    let replies = join_all((0..RACERS).map(|i| replicas[i % 2].reserve("acme"))).await;

    // Assert
    let statuses: Vec<StatusCode> = replies.iter().map(|r| r.status).collect();
    assert_eq!(tally(&statuses), (1, RACERS - 1), "{statuses:?}");
    let tokens: Vec<_> = replies
        .iter()
        .filter_map(|r| r.body["reservationToken"].as_str())
        .collect();
    assert_eq!(tokens.len(), 1);
    assert_eq!(replicas[0].row_count().await, 1);
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn fifty_concurrent_takeovers_of_a_lapsed_reservation_have_exactly_one_winner(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    // Arrange
    let replicas = two_replicas(options, connect).await;
    let lapsed_token = replicas[0].reserve_token("acme").await;
    replicas[0].lapse("acme").await;

    // Act
    let replies = join_all((0..RACERS).map(|i| replicas[i % 2].reserve("acme"))).await;

    // Assert
    let statuses: Vec<StatusCode> = replies.iter().map(|r| r.status).collect();
    assert_eq!(tally(&statuses), (1, RACERS - 1), "{statuses:?}");
    let winner = replies
        .iter()
        .find(|r| r.status == StatusCode::CREATED)
        .unwrap();
    assert_ne!(winner.body["reservationToken"], lapsed_token.as_str());
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn concurrent_commits_with_one_token_all_answer_the_same_allocation(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    // Arrange
    let replicas = two_replicas(options, connect).await;
    let token = replicas[0].reserve_token("acme").await;

    // Act: a client retrying eagerly against both replicas.
    let replies = join_all((0..10).map(|i| replicas[i % 2].commit("acme", &token, LB_IP))).await;

    // Assert
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        assert_eq!(reply.body, replies[0].body);
    }
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_release_racing_a_commit_is_never_lost(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    // Arrange
    let replicas = two_replicas(options, connect).await;
    const ROUNDS: usize = 60;

    for round in 0..ROUNDS {
        let sub = format!("race{round}");
        let token = replicas[0].reserve_token(&sub).await;

        // Act: the commit and the release of one name at the same moment, one per replica.
        let (committed, released) = tokio::join!(
            replicas[0].commit(&sub, &token, LB_IP),
            replicas[1].release(&sub),
        );

        // Assert: the release won, either over the reservation (the commit then finds nothing)
        // or over the allocation (it is being released); never a 404 for a name that exists.
        assert!(
            matches!(released.status, StatusCode::OK | StatusCode::ACCEPTED),
            "round {round}: release {} {:?}, commit {} {:?}",
            released.status,
            released.body,
            committed.status,
            committed.body
        );
        let listed = replicas[0].get(&format!("/api/v1/pool/{POOL}/list")).await;
        assert!(
            !listed.body["allocations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["subdomain"] == sub.as_str()),
            "round {round}: {sub} is still allocated after its release: {:?}",
            listed.body
        );
    }
}
