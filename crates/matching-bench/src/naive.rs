//! The baseline: a straightforward `BTreeMap<price, VecDeque<order>>` book per symbol.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::workload::Op;

#[derive(Default)]
struct Book {
    bids: BTreeMap<i64, VecDeque<(u64, u64)>>,
    asks: BTreeMap<i64, VecDeque<(u64, u64)>>,
    index: HashMap<u64, (bool, i64)>,
}

impl Book {
    /// Returns the taker's filled quantity; fully filled makers are appended to `done`.
    fn take(
        &mut self,
        buy: bool,
        limit: Option<i64>,
        mut qty: u64,
        done: &mut Vec<u64>,
    ) -> (u64, u64) {
        let mut filled = 0;
        while qty > 0 {
            let entry = if buy {
                self.asks.first_entry()
            } else {
                self.bids.last_entry()
            };
            let Some(mut entry) = entry else { break };
            let price = *entry.key();
            let crosses = match limit {
                None => true,
                Some(l) => (buy && price <= l) || (!buy && price >= l),
            };
            if !crosses {
                break;
            }
            let queue = entry.get_mut();
            while qty > 0 {
                let Some(front) = queue.front_mut() else {
                    break;
                };
                let q = front.1.min(qty);
                front.1 -= q;
                qty -= q;
                filled += q;
                if front.1 == 0 {
                    done.push(front.0);
                    self.index.remove(&front.0);
                    queue.pop_front();
                }
            }
            if queue.is_empty() {
                entry.remove();
            }
        }
        (filled, qty)
    }
}

pub struct Naive {
    books: Vec<Book>,
}

impl Naive {
    pub fn new(symbols: u32) -> Self {
        Naive {
            books: (0..symbols).map(|_| Book::default()).collect(),
        }
    }

    pub fn is_resting(&self, sym: u32, id: u64) -> bool {
        self.books[sym as usize].index.contains_key(&id)
    }

    /// Price levels on one side of `sym`'s book.
    pub fn levels(&self, sym: u32, buy: bool) -> usize {
        let book = &self.books[sym as usize];
        if buy {
            book.bids.len()
        } else {
            book.asks.len()
        }
    }

    pub fn apply(&mut self, op: &Op, done: &mut Vec<u64>) -> u64 {
        match *op {
            Op::Limit {
                sym,
                id,
                buy,
                price,
                qty,
            } => {
                let book = &mut self.books[sym as usize];
                let (filled, left) = book.take(buy, Some(price), qty, done);
                if left > 0 {
                    let side = if buy { &mut book.bids } else { &mut book.asks };
                    side.entry(price).or_default().push_back((id, left));
                    book.index.insert(id, (buy, price));
                }
                filled
            }
            Op::Market { sym, buy, qty, .. } => {
                self.books[sym as usize].take(buy, None, qty, done).0
            }
            Op::Cancel { sym, id } => {
                let book = &mut self.books[sym as usize];
                if let Some((buy, price)) = book.index.remove(&id) {
                    let side = if buy { &mut book.bids } else { &mut book.asks };
                    if let Some(q) = side.get_mut(&price) {
                        q.retain(|o| o.0 != id);
                        if q.is_empty() {
                            side.remove(&price);
                        }
                    }
                }
                0
            }
        }
    }
}
