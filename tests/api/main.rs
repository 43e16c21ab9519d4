//! Black-box tests of the HTTP contract (`../shared/wire-contract.md`), each on a fresh
//! PostgreSQL database. One binary, so there is one link on a small machine.

/// A test whose one body runs three times: against PDM in-process, the combined server over
/// TCP, and the per-endpoint function binaries behind a path router. Optional configuration
/// (`["PDM_RESERVATION_TTL" = "90s"]`) reaches all three alike.
macro_rules! contract_test {
    ($name:ident, |$app:ident| $body:block) => {
        contract_test!($name, [], |$app| $body);
    };
    ($name:ident, [$($key:literal = $value:literal),* $(,)?], |$app:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run(serving: pdm_tests::Serving, db: sqlx::PgPool) {
                let $app = pdm_tests::TestApp::served(db, serving, &[$(($key, $value)),*]).await;
                $body
            }

            #[sqlx::test(migrator = "pdm_core::MIGRATOR")]
            async fn in_process(db: sqlx::PgPool) {
                run(pdm_tests::Serving::InProcess, db).await;
            }

            #[sqlx::test(migrator = "pdm_core::MIGRATOR")]
            async fn combined_server(db: sqlx::PgPool) {
                run(pdm_tests::Serving::CombinedServer, db).await;
            }

            #[sqlx::test(migrator = "pdm_core::MIGRATOR")]
            async fn functions(db: sqlx::PgPool) {
                run(pdm_tests::Serving::Functions, db).await;
            }
        }
    };
}

mod audit;
mod aws_secrets;
mod catalyst_client;
mod check;
mod cli;
mod commit;
mod connections;
mod decommission;
mod dynadot;
mod front_door;
mod health;
mod lambda;
mod limits;
mod list;
mod metrics;
mod openapi;
mod outbound;
mod powerdns;
mod powerdns_child_zones;
mod race;
mod registrars;
mod release;
mod reserve;
mod routing;
mod scopes;
mod secrets;
mod store;
mod sweeper;
mod tokens;
