//! Daily bars for the signals component: seeded walks in the CSV shape price exports use.

/// 400 trading days (weekdays from 2023-01-02) of a seeded walk, as a CSV export.
pub fn csv(seed: u64, drift: f64) -> String {
    let mut state = seed | 1;
    let mut price: f64 = 100.0;
    let mut out = String::from("Date,Open,High,Low,Close,Adj Close,Volume\n");
    let start = bourse_signals::dates::parse("2023-01-02").expect("date");
    let mut n = 0;
    let mut day = start;
    while n < 400 {
        if (day - start) % 7 < 5 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let r = (state >> 11) as f64 / (1u64 << 53) as f64;
            price *= 1.0 + drift + (r - 0.5) * 0.02;
            let d = bourse_signals::dates::format(day);
            out.push_str(&format!(
                "{d},{p:.4},{p:.4},{p:.4},{p:.4},{p:.4},1000\n",
                p = price
            ));
            n += 1;
        }
        day += 1;
    }
    out
}
