//! The abuse suite: each test reproduces one way an anonymous caller, a trader, a hostile
//! component or a failing store could take over an account or exhaust the host, and checks it
//! no longer works. One module per area; every test ran red against the code before its fix.

mod common;
mod identity;
mod isolation;
mod limits;
mod signals;
mod simulations;
mod trading;
mod websocket;
