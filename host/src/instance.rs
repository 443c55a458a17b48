//! This process's name among the replicas and simulation instances sharing a cluster: the
//! process id and 32 random bits, fixed for the life of the process. Simulation claims and
//! mirrors name their runner with it, and a replica without a configured id is named after
//! it, so both say the same process the same way.

/// This process, as claims and replica ids name it.
pub fn id() -> String {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        format!(
            "{}-{:08x}",
            std::process::id(),
            getrandom::u32().unwrap_or(0)
        )
    })
    .clone()
}
