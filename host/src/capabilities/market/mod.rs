//! `bourse:platform/market`: the component-facing side of the market ([`crate::market`]).
//! Each call converts the interface's records to the market's own types and back
//! ([`convert`]); the market itself knows nothing of WIT.

mod convert;

use convert::answer;

use crate::bindings::bourse::platform::market::Host;
use crate::bindings::bourse::platform::types::Reject;
use crate::bindings::bourse::platform::types::{
    BookDepth, OrderInfo, OrderRequest, OrderResult, Quote, SymbolInfo, Trade,
};
use wasmtime::component::{HasSelf, Linker};

use super::base::Shared;
use crate::bindings::bourse::platform::{market, types};
use crate::market::Market;

/// Most orders one `submit-batch` call may carry.
pub const MAX_BATCH: usize = 65_536;

/// The market capability of one instance: the host's matching core. Every component may
/// trade, so it has no manifest grant, and it has no resources.
#[derive(Clone)]
pub struct MarketState {
    pub(crate) market: Shared<Market>,
}

impl MarketState {
    /// A handle on `market`.
    pub fn new(market: Shared<Market>) -> MarketState {
        MarketState { market }
    }
}

/// Links `bourse:platform/market` and the `types` it uses.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut MarketState,
) -> wasmtime::Result<()> {
    types::add_to_linker::<T, HasSelf<MarketState>>(linker, get)?;
    market::add_to_linker::<T, HasSelf<MarketState>>(linker, get)
}

impl Host for MarketState {
    async fn symbols(&mut self) -> wasmtime::Result<Vec<SymbolInfo>> {
        Ok(self.market.symbols().iter().map(Into::into).collect())
    }

    async fn submit(
        &mut self,
        order: OrderRequest,
    ) -> wasmtime::Result<Result<OrderResult, Reject>> {
        Ok(answer(self.market.submit(&order.into()).await))
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
        let orders: Vec<crate::market::OrderRequest> = orders.into_iter().map(Into::into).collect();
        Ok(self
            .market
            .submit_batch(&orders)
            .await
            .into_iter()
            .map(answer)
            .collect())
    }

    async fn cancel(
        &mut self,
        account: String,
        symbol: String,
        order_id: u64,
    ) -> wasmtime::Result<Result<OrderResult, Reject>> {
        Ok(answer(
            self.market.cancel(&account, &symbol, order_id).await,
        ))
    }

    async fn amend(
        &mut self,
        account: String,
        symbol: String,
        order_id: u64,
        price: Option<i64>,
        quantity: Option<u64>,
    ) -> wasmtime::Result<Result<OrderResult, Reject>> {
        Ok(answer(
            self.market
                .amend(&account, &symbol, order_id, price, quantity)
                .await,
        ))
    }

    async fn depth(
        &mut self,
        symbol: String,
        levels: u32,
    ) -> wasmtime::Result<Result<BookDepth, Reject>> {
        Ok(answer(self.market.depth(&symbol, levels.min(1000)).await))
    }

    async fn get_quote(&mut self, symbol: String) -> wasmtime::Result<Result<Quote, Reject>> {
        Ok(answer(self.market.quote(&symbol).await))
    }

    async fn order(
        &mut self,
        account: String,
        order_id: u64,
    ) -> wasmtime::Result<Result<OrderInfo, Reject>> {
        Ok(answer(self.market.order(&account, order_id).await))
    }

    async fn orders(
        &mut self,
        account: String,
        open_only: bool,
        limit: u32,
    ) -> wasmtime::Result<Vec<OrderInfo>> {
        Ok(self
            .market
            .orders(&account, open_only, limit)
            .await
            .into_iter()
            .map(Into::into)
            .collect())
    }

    async fn trades(
        &mut self,
        symbol: String,
        limit: u32,
    ) -> wasmtime::Result<Result<Vec<Trade>, Reject>> {
        Ok(self
            .market
            .trades(&symbol, limit)
            .await
            .map(|trades| trades.into_iter().map(Into::into).collect())
            .map_err(Into::into))
    }
}

impl crate::bindings::bourse::platform::types::Host for MarketState {}
