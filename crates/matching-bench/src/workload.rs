//! Seeded synthetic order flow. The naive book is run alongside generation so that cancels
//! always target orders that are really resting, and so that every command's expected
//! filled quantity is known up front for checking the engines.

use std::collections::HashMap;

use crate::naive::Naive;

/// Prices are centred far from zero so engines with unsigned prices accept them.
pub const MID: i64 = 1_000_000;

#[derive(Clone, Copy, Debug)]
pub enum Op {
    Limit {
        sym: u32,
        id: u64,
        buy: bool,
        price: i64,
        qty: u64,
    },
    Market {
        sym: u32,
        id: u64,
        buy: bool,
        qty: u64,
    },
    Cancel {
        sym: u32,
        id: u64,
    },
}

/// splitmix64: tiny, seedable and good enough for workload shaping.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub struct Workload {
    pub symbols: u32,
    pub warmup: Vec<Op>,
    pub ops: Vec<Op>,
    /// Taker quantity filled by each op in `ops`, per the naive model.
    pub expected_fills: Vec<u64>,
    /// Highest id used, so adapters can size id-indexed tables.
    pub max_id: u64,
}

/// Orders resting per symbol, with O(1) random pick and removal.
#[derive(Default)]
struct Live {
    ids: Vec<Vec<u64>>,
    pos: HashMap<u64, usize>,
}

impl Live {
    fn add(&mut self, sym: u32, id: u64) {
        let v = &mut self.ids[sym as usize];
        self.pos.insert(id, v.len());
        v.push(id);
    }

    fn remove(&mut self, sym: u32, id: u64) {
        if let Some(p) = self.pos.remove(&id) {
            let v = &mut self.ids[sym as usize];
            v.swap_remove(p);
            if let Some(&moved) = v.get(p) {
                self.pos.insert(moved, p);
            }
        }
    }
}

fn passive(rng: &mut Rng, sym: u32, id: u64) -> Op {
    let buy = rng.below(2) == 0;
    let off = 1 + rng.below(50) as i64;
    Op::Limit {
        sym,
        id,
        buy,
        price: if buy { MID - off } else { MID + off },
        qty: 1 + rng.below(100),
    }
}

/// The order flow after the warm-up book: what share of commands is of which kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mix {
    /// 60 % passive limits within 50 ticks of the mid, 30 % cancels of resting orders, 5 %
    /// market orders, 5 % limits crossing up to 5 ticks.
    Standard,
    /// 60 % market orders (1..=50 lots), 35 % passive limits, 5 % cancels; a market order
    /// whose opposite side is down to fewer than 10 price levels becomes a passive limit on
    /// that side instead, so the books never run dry.
    Market,
    /// 50 % passive limits, 47 % cancels, 3 % market orders (1..=50 lots): close to balanced,
    /// so the books stay near their warm-up size.
    Cancel,
}

impl Mix {
    pub fn name(self) -> &'static str {
        match self {
            Mix::Standard => "standard",
            Mix::Market => "market",
            Mix::Cancel => "cancel",
        }
    }

    /// Percent thresholds: passive below the first, cancel below the second, market below
    /// the third, crossing limit otherwise.
    fn thresholds(self) -> (u64, u64, u64) {
        match self {
            Mix::Standard => (60, 90, 95),
            Mix::Market => (35, 40, 100),
            Mix::Cancel => (50, 97, 100),
        }
    }

    fn market_qty(self, rng: &mut Rng) -> u64 {
        match self {
            // Small enough that the replenishing limits keep up with it.
            Mix::Market | Mix::Cancel => 1 + rng.below(50),
            Mix::Standard => 50 + rng.below(250),
        }
    }
}

/// Price levels a side keeps in the market mix before market orders may take from it.
const MIN_LEVELS: usize = 10;

pub fn generate(
    mix: Mix,
    symbols: u32,
    warmup_per_symbol: usize,
    commands: usize,
    seed: u64,
) -> Workload {
    let mut rng = Rng::new(seed);
    let mut naive = Naive::new(symbols);
    let mut live = Live {
        ids: vec![Vec::new(); symbols as usize],
        pos: HashMap::new(),
    };
    let mut done = Vec::new();
    let mut next_id = 0u64;
    let mut apply = |op: Op, naive: &mut Naive, live: &mut Live| -> u64 {
        done.clear();
        let filled = naive.apply(&op, &mut done);
        let sym = match op {
            Op::Limit { sym, .. } | Op::Market { sym, .. } | Op::Cancel { sym, .. } => sym,
        };
        for &id in &done {
            live.remove(sym, id);
        }
        match op {
            Op::Limit { id, .. } if naive.is_resting(sym, id) => live.add(sym, id),
            Op::Cancel { id, .. } => live.remove(sym, id),
            _ => {}
        }
        filled
    };

    let mut warmup = Vec::with_capacity(warmup_per_symbol * symbols as usize);
    for _ in 0..warmup_per_symbol {
        for sym in 0..symbols {
            let op = passive(&mut rng, sym, next_id);
            next_id += 1;
            apply(op, &mut naive, &mut live);
            warmup.push(op);
        }
    }

    let (passive_below, cancel_below, market_below) = mix.thresholds();
    let mut ops = Vec::with_capacity(commands);
    let mut expected_fills = Vec::with_capacity(commands);
    while ops.len() < commands {
        let sym = rng.below(u64::from(symbols)) as u32;
        let roll = rng.below(100);
        let id = next_id;
        let op = if roll < passive_below {
            passive(&mut rng, sym, id)
        } else if roll < cancel_below {
            let resting = &live.ids[sym as usize];
            if resting.is_empty() {
                passive(&mut rng, sym, id)
            } else {
                let victim = resting[rng.below(resting.len() as u64) as usize];
                Op::Cancel { sym, id: victim }
            }
        } else if roll < market_below {
            let buy = rng.below(2) == 0;
            let qty = mix.market_qty(&mut rng);
            if mix == Mix::Market && naive.levels(sym, !buy) < MIN_LEVELS {
                // Replenish the side the market order would have taken from.
                let off = 1 + rng.below(50) as i64;
                Op::Limit {
                    sym,
                    id,
                    buy: !buy,
                    price: if buy { MID + off } else { MID - off },
                    qty: 1 + rng.below(100),
                }
            } else {
                Op::Market { sym, id, buy, qty }
            }
        } else {
            let buy = rng.below(2) == 0;
            let through = 1 + rng.below(5) as i64;
            Op::Limit {
                sym,
                id,
                buy,
                price: if buy { MID + through } else { MID - through },
                qty: 50 + rng.below(250),
            }
        };
        if !matches!(op, Op::Cancel { .. }) {
            next_id += 1;
        }
        expected_fills.push(apply(op, &mut naive, &mut live));
        ops.push(op);
    }
    let resting: usize = live.ids.iter().map(Vec::len).sum();
    eprintln!("workload: {resting} orders resting at the end");
    Workload {
        symbols,
        warmup,
        ops,
        expected_fills,
        max_id: next_id,
    }
}
