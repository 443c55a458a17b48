//! The abuse suite: each test reproduces one way an anonymous caller, a trader, a hostile
//! component or a failing store could take over an account or exhaust the host, and checks it
//! no longer works. One module per area; every test ran red against the code before its fix.

mod abuse {
    pub mod common;
    pub mod identity;
    pub mod isolation;
    pub mod limits;
    pub mod signals;
    pub mod simulations;
    pub mod trading;
    pub mod websocket;
}
