//! From the venue's types to the market's ([`super::types`]), and the refusals the market
//! makes itself.

use bourse_matching::venue;

use super::journal::{Command, Kind, Side as JSide, Tif};
use super::types::{
    Level, OrderInfo, OrderKind, OrderRequest, OrderResult, OrderStatus, Quote, Reject, RejectCode,
    Side, TimeInForce, Trade,
};

pub(super) fn stopped() -> Reject {
    Reject {
        code: RejectCode::Unavailable,
        message: "the matching engine is shutting down".into(),
    }
}

pub(super) fn unavailable() -> Reject {
    Reject {
        code: RejectCode::Unavailable,
        message: "the journal did not confirm the command, so its outcome is unknown; \
                  retry with the same client_order_id"
            .into(),
    }
}

pub(super) fn fenced() -> Reject {
    Reject {
        code: RejectCode::Unavailable,
        message: "the shard moved to another replica before the command was written; \
                  it was not executed, retry"
            .into(),
    }
}

pub(super) fn reject(r: venue::Reject) -> Reject {
    use venue::RejectCode as V;
    let code = match r.code {
        V::UnknownSymbol => RejectCode::UnknownSymbol,
        V::UnknownOrder => RejectCode::UnknownOrder,
        V::InvalidQuantity => RejectCode::InvalidQuantity,
        V::PriceOffTick => RejectCode::PriceOffTick,
        V::PostOnlyWouldCross => RejectCode::PostOnlyWouldCross,
        V::FokCannotFill => RejectCode::FokCannotFill,
        V::DuplicateClientOrderId => RejectCode::DuplicateClientOrderId,
        V::NoLiquidity => RejectCode::NoLiquidity,
    };
    Reject {
        code,
        message: r.message,
    }
}

fn side(s: bourse_matching::Side) -> Side {
    match s {
        bourse_matching::Side::Buy => Side::Buy,
        bourse_matching::Side::Sell => Side::Sell,
    }
}

fn status(s: venue::Status) -> OrderStatus {
    match s {
        venue::Status::Accepted => OrderStatus::Accepted,
        venue::Status::PartiallyFilled => OrderStatus::PartiallyFilled,
        venue::Status::Filled => OrderStatus::Filled,
        venue::Status::Cancelled => OrderStatus::Cancelled,
    }
}

pub(super) fn trade(t: venue::Trade) -> Trade {
    Trade {
        price: t.price,
        quantity: t.quantity,
        maker_order_id: t.maker_order_id,
        taker_order_id: t.taker_order_id,
        sequence: t.sequence,
        aggressor: side(t.aggressor),
        timestamp_ms: t.timestamp_ms,
    }
}

pub(super) fn result(r: venue::OrderResult) -> OrderResult {
    OrderResult {
        order_id: r.order_id,
        status: status(r.status),
        filled_quantity: r.filled_quantity,
        remaining_quantity: r.remaining_quantity,
        trades: r.trades.into_iter().map(trade).collect(),
        reject_reason: None,
        duplicate: r.duplicate,
    }
}

pub(super) fn info(o: venue::OrderInfo) -> OrderInfo {
    OrderInfo {
        order_id: o.order_id,
        symbol: o.symbol,
        side: side(o.side),
        price: o.price,
        status: status(o.status),
        filled_quantity: o.filled_quantity,
        remaining_quantity: o.remaining_quantity,
    }
}

pub(super) fn quote(q: venue::Quote) -> Quote {
    let level = |l: Option<(i64, u64)>| l.map(|(price, quantity)| Level { price, quantity });
    Quote {
        symbol: q.symbol,
        bid: level(q.bid),
        ask: level(q.ask),
        last_price: q.last_price,
    }
}

pub(super) fn journal_command(o: &OrderRequest) -> Command {
    Command::Submit {
        symbol: o.symbol.clone(),
        side: match o.side {
            Side::Buy => JSide::Buy,
            Side::Sell => JSide::Sell,
        },
        kind: match o.kind {
            OrderKind::Limit => Kind::Limit,
            OrderKind::Market => Kind::Market,
        },
        price: o.price,
        quantity: o.quantity,
        tif: match o.time_in_force {
            TimeInForce::Gtc => Tif::Gtc,
            TimeInForce::Ioc => Tif::Ioc,
            TimeInForce::Fok => Tif::Fok,
        },
        post_only: o.post_only,
        client_order_id: o.client_order_id.clone(),
        account: o.account.clone(),
    }
}
