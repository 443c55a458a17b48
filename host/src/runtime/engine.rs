//! The Wasmtime engine: pooling allocator (settings chosen by measurement) and epoch
//! interruption. (Compiled artifacts are cached by `versions`, keyed by digest and engine.)

use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Builds the engine. `memory_mb` caps each linear memory.
pub fn build(memory_mb: u64) -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(1_000)
        .total_core_instances(4_000)
        .total_memories(2_000)
        .total_tables(4_000)
        .max_memories_per_component(8)
        .max_tables_per_component(16)
        .max_core_instances_per_component(32)
        .max_memory_size((memory_mb as usize) << 20);
    // A freed slot keeps up to 1 MiB of its memory (64 KiB of tables) mapped and is reset
    // with a scan of the pages the last instance touched (PAGEMAP_SCAN, Linux 6.7+; `Auto`
    // falls back to madvise elsewhere) instead of unmapping them: the next instance on it
    // takes no page faults for them. Measured with host-bench: a fresh instance + typed
    // call went from 31 066 to 70 470 per second (docs/benchmarks.md, "Instantiation").
    pool.linear_memory_keep_resident(1 << 20)
        .table_keep_resident(64 << 10)
        .pagemap_scan(wasmtime::Enabled::Auto);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&config)?;
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("bourse-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map_err(|e| wasmtime::format_err!("cannot start the epoch thread: {e}"))?;
    Ok(engine)
}
