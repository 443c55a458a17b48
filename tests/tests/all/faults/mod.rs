//! Faults while traffic runs: the services Bourse depends on failing (each test has a Postgres
//! or Redis server of its own, [`bourse_tests::services`], so breaking it touches nobody
//! else), and replicas dying in the middle of a hot swap or a lease takeover. Hosts are the
//! release binary (`BOURSE_RELEASE_DIST`), run as Railway runs them.

mod cluster_swap;
mod load;
mod postgres;
mod redis;
