//! The same workload through the `market` component (world `bourse:platform/market-core`)
//! in Wasmtime, and through the native `Venue` it wraps, so the table shows what the
//! component boundary costs on top of identical matching and bookkeeping.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bourse_matching::venue::{self, Venue};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::adapters::Harness;
use crate::workload::Op;

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "bourse:platform/market-core",
});

use bourse::platform::types::{OrderKind, OrderRequest, Side, TimeInForce};

/// Submits per `submit-batch` call at most.
pub const BATCH: usize = 256;

/// Where `cargo build --target wasm32-wasip2 --release -p market` puts the component.
pub fn default_component_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/wasm32-wasip2/release/market.wasm")
}

struct Loaded {
    engine: Engine,
    component: Component,
    linker: Linker<State>,
}

static LOADED: OnceLock<Loaded> = OnceLock::new();

/// Compiles the component once; later calls are free. Errors explain how to build it.
pub fn load(path: &Path) -> Result<(), String> {
    if LOADED.get().is_some() {
        return Ok(());
    }
    if !path.exists() {
        return Err(format!(
            "market component not found at {}\n  build it with: cargo build --target wasm32-wasip2 --release -p market\n  (or pass --wasm PATH)",
            path.display()
        ));
    }
    let engine = Engine::new(&Config::new()).map_err(|e| format!("wasmtime: {e:#}"))?;
    let component = Component::from_file(&engine, path)
        .map_err(|e| format!("loading {}: {e:#}", path.display()))?;
    let mut linker = Linker::new(&engine);
    // std in the component imports WASI (environment, stdio for panics, random seeds).
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| format!("linker: {e:#}"))?;
    // No key-value store is granted: the component keeps its books in the instance, which is
    // what the benchmark measures.
    MarketCore::add_to_linker::<State, wasmtime::component::HasSelf<State>>(&mut linker, |s| s)
        .map_err(|e| format!("linker: {e:#}"))?;
    let _ = LOADED.set(Loaded {
        engine,
        component,
        linker,
    });
    Ok(())
}

struct State {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

use fermyon::spin::key_value::{Error as KvError, HostStore, Store as KvStore};

impl fermyon::spin::key_value::Host for State {}
impl bourse::platform::types::Host for State {}

impl HostStore for State {
    fn open(&mut self, _label: String) -> Result<wasmtime::component::Resource<KvStore>, KvError> {
        Err(KvError::NoSuchStore)
    }

    fn get(
        &mut self,
        _: wasmtime::component::Resource<KvStore>,
        _: String,
    ) -> Result<Option<Vec<u8>>, KvError> {
        Err(KvError::NoSuchStore)
    }

    fn set(
        &mut self,
        _: wasmtime::component::Resource<KvStore>,
        _: String,
        _: Vec<u8>,
    ) -> Result<(), KvError> {
        Err(KvError::NoSuchStore)
    }

    fn delete(
        &mut self,
        _: wasmtime::component::Resource<KvStore>,
        _: String,
    ) -> Result<(), KvError> {
        Err(KvError::NoSuchStore)
    }

    fn exists(
        &mut self,
        _: wasmtime::component::Resource<KvStore>,
        _: String,
    ) -> Result<bool, KvError> {
        Err(KvError::NoSuchStore)
    }

    fn get_keys(
        &mut self,
        _: wasmtime::component::Resource<KvStore>,
    ) -> Result<Vec<String>, KvError> {
        Err(KvError::NoSuchStore)
    }

    fn drop(&mut self, _: wasmtime::component::Resource<KvStore>) -> wasmtime::Result<()> {
        Ok(())
    }
}

/// Symbol names `S0..S{n-1}`, configured through the component's `BOURSE_MARKET_SYMBOLS`.
fn symbol_names(symbols: u32) -> Vec<String> {
    (0..symbols).map(|s| format!("S{s}")).collect()
}

/// One account per workload order id: the peers have no self-trade prevention, so orders
/// must never share an account.
fn account(id: u64) -> String {
    format!("a{id}")
}

/// The workload's ids are 0-based and the venue's 1-based, both assigned in submit order
/// (every submit in the workload is accepted), so the venue id is the workload id + 1.
fn venue_id(id: u64) -> u64 {
    id + 1
}

fn request(names: &[String], op: &Op) -> Option<OrderRequest> {
    let side = |buy| if buy { Side::Buy } else { Side::Sell };
    match *op {
        Op::Limit {
            sym,
            id,
            buy,
            price,
            qty,
        } => Some(OrderRequest {
            symbol: names[sym as usize].clone(),
            side: side(buy),
            kind: OrderKind::Limit,
            price,
            quantity: qty,
            time_in_force: TimeInForce::Gtc,
            post_only: false,
            client_order_id: None,
            account: account(id),
        }),
        Op::Market { sym, id, buy, qty } => Some(OrderRequest {
            symbol: names[sym as usize].clone(),
            side: side(buy),
            kind: OrderKind::Market,
            price: 0,
            quantity: qty,
            time_in_force: TimeInForce::Ioc,
            post_only: false,
            client_order_id: None,
            account: account(id),
        }),
        Op::Cancel { .. } => None,
    }
}

/// The component in a fresh store. `batch` selects `submit-batch` (flushed before every
/// cancel, which must see the orders submitted before it) over one `submit` per order.
pub struct Wasm<const BATCHED: bool> {
    store: Store<State>,
    market: MarketCore,
    names: Vec<String>,
    pending: Vec<OrderRequest>,
    /// Indices (into the caller's fill slots) of the pending submits.
    pending_slots: Vec<usize>,
    pub calls: u64,
}

impl<const BATCHED: bool> Wasm<BATCHED> {
    fn flush(&mut self, fills: &mut [u64]) {
        if self.pending.is_empty() {
            return;
        }
        self.calls += 1;
        let results = self
            .market
            .bourse_platform_market()
            .call_submit_batch(&mut self.store, &self.pending)
            .unwrap_or_else(|e| panic!("submit-batch trapped: {e:#}"));
        for (slot, r) in self.pending_slots.iter().zip(results) {
            fills[*slot] = r.map_or(0, |r| r.filled_quantity);
        }
        self.pending.clear();
        self.pending_slots.clear();
    }
}

impl<const BATCHED: bool> Harness for Wasm<BATCHED> {
    fn new(symbols: u32, _max_id: u64) -> Self {
        let Some(loaded) = LOADED.get() else {
            panic!("wasm::load must succeed before the wasm engines run");
        };
        let names = symbol_names(symbols);
        let wasi = WasiCtx::builder()
            .env("BOURSE_MARKET_SYMBOLS", names.join(","))
            .inherit_stderr()
            .build();
        let mut store = Store::new(
            &loaded.engine,
            State {
                wasi,
                table: ResourceTable::new(),
            },
        );
        let market = MarketCore::instantiate(&mut store, &loaded.component, &loaded.linker)
            .unwrap_or_else(|e| panic!("instantiating the market component: {e:#}"));
        Wasm {
            store,
            market,
            names,
            pending: Vec::with_capacity(BATCH),
            pending_slots: Vec::with_capacity(BATCH),
            calls: 0,
        }
    }

    fn apply(&mut self, op: &Op) -> u64 {
        self.calls += 1;
        let market = self.market.bourse_platform_market();
        match (request(&self.names, op), op) {
            (Some(order), _) => market
                .call_submit(&mut self.store, &order)
                .unwrap_or_else(|e| panic!("submit trapped: {e:#}"))
                .map_or(0, |r| r.filled_quantity),
            (None, &Op::Cancel { sym, id }) => {
                // Fills are what the check compares; a cancel fills nothing either way.
                let _ = market
                    .call_cancel(
                        &mut self.store,
                        &account(id),
                        &self.names[sym as usize],
                        venue_id(id),
                    )
                    .unwrap_or_else(|e| panic!("cancel trapped: {e:#}"));
                0
            }
            (None, _) => 0,
        }
    }

    fn apply_all(&mut self, ops: &[Op], fills: &mut [u64]) {
        if !BATCHED {
            for (slot, op) in fills.iter_mut().zip(ops) {
                *slot = self.apply(op);
            }
            return;
        }
        for (i, op) in ops.iter().enumerate() {
            match request(&self.names, op) {
                Some(order) => {
                    self.pending.push(order);
                    self.pending_slots.push(i);
                    if self.pending.len() == BATCH {
                        self.flush(fills);
                    }
                }
                None => {
                    self.flush(fills);
                    fills[i] = self.apply(op);
                }
            }
        }
        self.flush(fills);
    }
}

/// The native `Venue` the component wraps, driven the same way as the component.
pub struct NativeVenue {
    venue: Venue,
    names: Vec<String>,
}

impl Harness for NativeVenue {
    fn new(symbols: u32, _max_id: u64) -> Self {
        let names = symbol_names(symbols);
        let specs: Vec<venue::SymbolSpec> = names
            .iter()
            .map(|n| venue::SymbolSpec {
                symbol: n.clone(),
                tick_size: "0.01".into(),
                lot_size: "1".into(),
            })
            .collect();
        NativeVenue {
            venue: Venue::new(&specs).unwrap_or_else(|e| panic!("bench symbols: {e}")),
            names,
        }
    }

    fn apply(&mut self, op: &Op) -> u64 {
        // Same owned strings per command as the component's callers build, so the only
        // difference left is the component boundary.
        match *op {
            Op::Limit {
                sym,
                id,
                buy,
                price,
                qty,
            } => self.submit(sym, id, buy, venue::OrderKind::Limit, price, qty),
            Op::Market { sym, id, buy, qty } => {
                self.submit(sym, id, buy, venue::OrderKind::Market, 0, qty)
            }
            Op::Cancel { sym, id } => {
                let (account, symbol) = (account(id), self.names[sym as usize].clone());
                let _ = self.venue.cancel(&account, &symbol, venue_id(id));
                0
            }
        }
    }
}

impl NativeVenue {
    fn submit(
        &mut self,
        sym: u32,
        id: u64,
        buy: bool,
        kind: venue::OrderKind,
        price: i64,
        qty: u64,
    ) -> u64 {
        let (account, symbol) = (account(id), self.names[sym as usize].clone());
        let order = venue::OrderRequest {
            symbol: &symbol,
            side: if buy {
                bourse_matching::Side::Buy
            } else {
                bourse_matching::Side::Sell
            },
            kind,
            price,
            quantity: qty,
            time_in_force: match kind {
                venue::OrderKind::Limit => venue::TimeInForce::Gtc,
                venue::OrderKind::Market => venue::TimeInForce::Ioc,
            },
            post_only: false,
            client_order_id: None,
            account: &account,
        };
        self.venue.submit(&order).map_or(0, |r| r.filled_quantity)
    }
}
