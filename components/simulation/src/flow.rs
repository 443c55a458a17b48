//! The order-flow generator: a seeded xorshift PRNG, so a scenario and seed always give the
//! same orders on every runtime.

use bourse_guest::bourse::platform::types::{OrderKind, OrderRequest, Side, TimeInForce};

use crate::exports::bourse::platform::generator::Scenario;

/// Upper bound on one batch, so a caller cannot make an instance allocate without limit.
pub const MAX_BATCH: u32 = 65_536;

pub struct Flow {
    scenario: Scenario,
    state: u64,
    accounts: Vec<String>,
}

impl Flow {
    /// Checks the scenario; the error names the field that is wrong.
    pub fn new(scenario: Scenario) -> Result<Flow, String> {
        if scenario.symbols.is_empty() {
            return Err("symbols must name at least one symbol".into());
        }
        if scenario.mid <= i64::from(scenario.spread) {
            return Err(format!(
                "mid ({}) must be greater than spread ({}) so every price is positive",
                scenario.mid, scenario.spread
            ));
        }
        if scenario.max_quantity == 0 {
            return Err("max_quantity must be at least 1".into());
        }
        if scenario.market_percent > 100 {
            return Err("market_percent must be from 0 to 100".into());
        }
        if scenario.accounts == 0 || scenario.accounts > 100_000 {
            return Err("accounts must be from 1 to 100000".into());
        }
        let accounts = (0..scenario.accounts).map(|i| format!("sim-{i}")).collect();
        // xorshift has a fixed point at zero; mixing the seed keeps seed 0 usable.
        let state = scenario.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        Ok(Flow {
            scenario,
            state,
            accounts,
        })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// The next `max` orders (capped at [`MAX_BATCH`]).
    pub fn batch(&mut self, max: u32) -> Vec<OrderRequest> {
        let n = max.min(MAX_BATCH);
        (0..n).map(|_| self.order()).collect()
    }

    fn order(&mut self) -> OrderRequest {
        let symbol_index = self.below(self.scenario.symbols.len() as u64) as usize;
        let side = if self.next() & 1 == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let market = self.below(100) < u64::from(self.scenario.market_percent);
        let offset = self.below(u64::from(self.scenario.spread) + 1) as i64;
        // Buyers bid below the mid and sellers ask above it, so most limits rest and some cross.
        let price = match side {
            Side::Buy => self.scenario.mid - offset + 1,
            Side::Sell => self.scenario.mid + offset - 1,
        };
        let quantity = 1 + self.below(self.scenario.max_quantity);
        let account_index = self.below(self.accounts.len() as u64) as usize;
        OrderRequest {
            symbol: self.scenario.symbols[symbol_index].clone(),
            side,
            kind: if market {
                OrderKind::Market
            } else {
                OrderKind::Limit
            },
            price: if market { 0 } else { price.max(1) },
            quantity,
            time_in_force: if market {
                TimeInForce::Ioc
            } else {
                TimeInForce::Gtc
            },
            post_only: false,
            client_order_id: None,
            account: self.accounts[account_index].clone(),
        }
    }
}
