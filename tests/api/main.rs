//! Black-box tests of the HTTP contract (`../shared/wire-contract.md`), each on a fresh
//! PostgreSQL database. One binary, so there is one link on a small machine.

mod check;
mod commit;
mod dynadot;
mod health;
mod list;
mod race;
mod release;
mod reserve;
mod routing;
mod sweeper;
