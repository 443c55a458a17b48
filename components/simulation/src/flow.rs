//! The order-flow generator: a seeded xorshift PRNG, so a scenario and seed always give the
//! same orders on every runtime.
//!
//! Three kinds of agents share the flow. Noise traders send limit orders within `spread`
//! ticks of the mid (and market orders at `market-percent`); market makers quote one to three
//! ticks either side of the mid; momentum traders send market orders in the direction of the
//! mid's last move. The mid itself wanders one tick at a time with probability
//! `volatility-bp` / 10 000 per order, drifting with the trend when momentum agents trade.

use bourse_guest::bourse::platform::types::{OrderKind, OrderRequest, Side, TimeInForce};

use crate::exports::bourse::platform::generator::Scenario;

/// Upper bound on one batch, so a caller cannot make an instance allocate without limit.
pub const MAX_BATCH: u32 = 65_536;

pub struct Flow {
    scenario: Scenario,
    state: u64,
    accounts: Vec<String>,
    /// Current mid per symbol, in ticks.
    mids: Vec<i64>,
    /// Direction of each symbol's last mid move (+1 up, -1 down, 0 none yet).
    trend: Vec<i64>,
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
        if scenario.volatility_bp > 10_000 {
            return Err("volatility_bp must be from 0 to 10000".into());
        }
        let a = &scenario.agents;
        if u32::from(a.noise) + u32::from(a.market_maker) + u32::from(a.momentum) != 100 {
            return Err(format!(
                "agents must add up to 100 percent (noise {} + market_maker {} + momentum {})",
                a.noise, a.market_maker, a.momentum
            ));
        }
        // `sim:<n>`: principal ids name their kind, and no username holds a `:`, so nobody
        // can sign up as a simulated account and trade against (or as) a run's flow.
        let accounts = (0..scenario.accounts).map(|i| format!("sim:{i}")).collect();
        // xorshift has a fixed point at zero; mixing the seed keeps seed 0 usable.
        let state = scenario.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let n = scenario.symbols.len();
        Ok(Flow {
            mids: vec![scenario.mid; n],
            trend: vec![0; n],
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

    fn side(&mut self) -> Side {
        if self.next() & 1 == 0 {
            Side::Buy
        } else {
            Side::Sell
        }
    }

    /// Moves symbol `i`'s mid by a tick with the scenario's probability.
    fn wander(&mut self, i: usize) {
        if self.below(10_000) >= u64::from(self.scenario.volatility_bp) {
            return;
        }
        // Half the moves follow the trend once there is one: prices move in runs.
        let step = if self.trend[i] != 0 && self.next() & 1 == 0 {
            self.trend[i]
        } else if self.next() & 1 == 0 {
            1
        } else {
            -1
        };
        let floor = i64::from(self.scenario.spread) + 1;
        self.mids[i] = (self.mids[i] + step).max(floor);
        self.trend[i] = step;
    }

    fn order(&mut self) -> OrderRequest {
        let i = self.below(self.scenario.symbols.len() as u64) as usize;
        self.wander(i);
        let mid = self.mids[i];
        let roll = self.below(100) as u8;
        let agents = &self.scenario.agents;
        let (side, kind, price) = if roll < agents.noise {
            let side = self.side();
            let market = self.below(100) < u64::from(self.scenario.market_percent);
            let offset = self.below(u64::from(self.scenario.spread) + 1) as i64;
            // Buyers bid below the mid and sellers ask above it: most rest, some cross.
            let price = match side {
                Side::Buy => mid - offset + 1,
                Side::Sell => mid + offset - 1,
            };
            (
                side,
                if market {
                    OrderKind::Market
                } else {
                    OrderKind::Limit
                },
                price,
            )
        } else if roll < agents.noise.saturating_add(agents.market_maker) {
            let side = self.side();
            let offset = 1 + self.below(3) as i64;
            let price = match side {
                Side::Buy => mid - offset,
                Side::Sell => mid + offset,
            };
            (side, OrderKind::Limit, price)
        } else {
            let side = match self.trend[i] {
                t if t > 0 => Side::Buy,
                t if t < 0 => Side::Sell,
                _ => self.side(),
            };
            (side, OrderKind::Market, 0)
        };
        let quantity = 1 + self.below(self.scenario.max_quantity);
        let account_index = self.below(self.accounts.len() as u64) as usize;
        let market = kind == OrderKind::Market;
        OrderRequest {
            symbol: self.scenario.symbols[i].clone(),
            side,
            kind,
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
