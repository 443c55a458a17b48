//! `bourse:platform/market`: the component-facing side of the native matching core.

mod call;
mod convert;
pub mod journal;
mod open_orders;
mod ownership;
mod publish;
mod remote;
mod service;

pub use publish::{price_text, quantity_text};
pub use service::{Market, MarketConfig, MarketError, SymbolTableError, default_symbols};

use crate::bindings::bourse::platform::market::Host;
use crate::bindings::bourse::platform::types::Reject;
use crate::bindings::bourse::platform::types::{
    BookDepth, OrderInfo, OrderRequest, OrderResult, Quote, SymbolInfo, Trade,
};
use crate::capabilities::domain::MarketState;

/// Most orders one `submit-batch` call may carry.
pub const MAX_BATCH: usize = 65_536;

impl Host for MarketState {
    async fn symbols(&mut self) -> wasmtime::Result<Vec<SymbolInfo>> {
        Ok(self.market.symbols().to_vec())
    }

    async fn submit(
        &mut self,
        order: OrderRequest,
    ) -> wasmtime::Result<Result<OrderResult, Reject>> {
        Ok(self.market.submit(&order).await)
    }

    async fn submit_batch(
        &mut self,
        orders: Vec<OrderRequest>,
    ) -> wasmtime::Result<Vec<Result<OrderResult, Reject>>> {
        if orders.len() > MAX_BATCH {
            wasmtime::bail!(
                "submit-batch of {} orders exceeds the limit of {MAX_BATCH}",
                orders.len()
            );
        }
        Ok(self.market.submit_batch(&orders).await)
    }

    async fn cancel(
        &mut self,
        account: String,
        symbol: String,
        order_id: u64,
    ) -> wasmtime::Result<Result<OrderResult, Reject>> {
        Ok(self.market.cancel(&account, &symbol, order_id).await)
    }

    async fn amend(
        &mut self,
        account: String,
        symbol: String,
        order_id: u64,
        price: Option<i64>,
        quantity: Option<u64>,
    ) -> wasmtime::Result<Result<OrderResult, Reject>> {
        Ok(self
            .market
            .amend(&account, &symbol, order_id, price, quantity)
            .await)
    }

    async fn depth(
        &mut self,
        symbol: String,
        levels: u32,
    ) -> wasmtime::Result<Result<BookDepth, Reject>> {
        Ok(self.market.depth(&symbol, levels.min(1000)).await)
    }

    async fn get_quote(&mut self, symbol: String) -> wasmtime::Result<Result<Quote, Reject>> {
        Ok(self.market.quote(&symbol).await)
    }

    async fn order(
        &mut self,
        account: String,
        order_id: u64,
    ) -> wasmtime::Result<Result<OrderInfo, Reject>> {
        Ok(self.market.order(&account, order_id).await)
    }

    async fn orders(
        &mut self,
        account: String,
        open_only: bool,
        limit: u32,
    ) -> wasmtime::Result<Vec<OrderInfo>> {
        Ok(self.market.orders(&account, open_only, limit).await)
    }

    async fn trades(
        &mut self,
        symbol: String,
        limit: u32,
    ) -> wasmtime::Result<Result<Vec<Trade>, Reject>> {
        Ok(self.market.trades(&symbol, limit).await)
    }
}

impl crate::bindings::bourse::platform::types::Host for MarketState {}
