//! Commands are the only way to change engine state; they are plain data so the host can journal them.

use serde::{Deserialize, Serialize};

use crate::types::{AccountId, OrderId, OrderType, Price, Quantity, Side, StpMode, SymbolId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    Submit {
        symbol: SymbolId,
        order_id: OrderId,
        account: AccountId,
        side: Side,
        order_type: OrderType,
        quantity: Quantity,
        stp: StpMode,
    },
    Cancel {
        order_id: OrderId,
    },
    /// `quantity` is the new open (remaining) quantity. Reducing it at the same price keeps
    /// time priority; a price change or an increase re-queues the order at the back.
    Amend {
        order_id: OrderId,
        price: Option<Price>,
        quantity: Quantity,
    },
}

impl Command {
    pub fn order_id(&self) -> OrderId {
        match *self {
            Command::Submit { order_id, .. }
            | Command::Cancel { order_id }
            | Command::Amend { order_id, .. } => order_id,
        }
    }
}
