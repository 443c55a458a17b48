//! Guest-side support shared by every Bourse component.
//!
//! It generates the bindings of the host imports once (components map them in with
//! `wit_bindgen::generate!`'s `with` option, so types such as `IncomingRequest` or
//! `OrderRequest` are the same Rust types everywhere) and adds what each component would
//! otherwise rewrite: reading a wasi:http request, writing a JSON response, and decimal
//! conversion at the JSON edge.

/// Decimal strings at the JSON edge (shared with the host through the matching core).
pub use bourse_matching::decimal;
pub mod http;
pub mod outbound;

wit_bindgen::generate!({
    inline: r#"
        package bourse:guest;

        world imports {
            import bourse:platform/market@0.1.0;
            import bourse:platform/events@0.1.0;
            import fermyon:spin/key-value@2.0.0;
            import fermyon:spin/sqlite@2.0.0;
            import fermyon:spin/variables@2.0.0;
            import wasi:http/types@0.2.12;
            import wasi:http/outgoing-handler@0.2.12;
        }
    "#,
    path: "../../wit",
    generate_all,
});

/// The `with` table a component passes to `wit_bindgen::generate!` is long and mostly the same
/// for every component; this macro writes the wasi:http part once. The component names its
/// world and the Bourse/Spin imports it maps to this crate (wit-bindgen refuses unused
/// mappings), e.g.
/// `bourse_guest::bindings!("bourse:platform/signals", "fermyon:spin/key-value@2.0.0": bourse_guest::fermyon::spin::key_value);`
#[macro_export]
macro_rules! bindings {
    ($world:literal $(, $iface:literal : $module:path)* $(,)?) => {
        wit_bindgen::generate!({
            path: "../../wit",
            world: $world,
            with: {
                "wasi:http/types@0.2.12": bourse_guest::wasi::http::types,
                "wasi:io/streams@0.2.12": bourse_guest::wasi::io::streams,
                "wasi:io/error@0.2.12": bourse_guest::wasi::io::error,
                "wasi:io/poll@0.2.12": bourse_guest::wasi::io::poll,
                "wasi:clocks/monotonic-clock@0.2.12": bourse_guest::wasi::clocks::monotonic_clock,
                $($iface: $module,)*
            },
            generate_all,
        });
    };
}

/// Bindings for a component whose world is written inline — HTTP only, with the WIT
/// dependencies at `$path` — mapped to this crate's wasi:http types like [`bindings!`]. Test
/// fixtures and small HTTP-only components use it:
/// `bourse_guest::http_bindings!("package my:app; world app { export wasi:http/incoming-handler@0.2.12; }", "../../wit");`
#[macro_export]
macro_rules! http_bindings {
    ($inline:literal, $path:literal) => {
        wit_bindgen::generate!({
            inline: $inline,
            path: $path,
            with: {
                "wasi:http/types@0.2.12": bourse_guest::wasi::http::types,
                "wasi:io/streams@0.2.12": bourse_guest::wasi::io::streams,
                "wasi:io/error@0.2.12": bourse_guest::wasi::io::error,
                "wasi:io/poll@0.2.12": bourse_guest::wasi::io::poll,
                "wasi:clocks/monotonic-clock@0.2.12": bourse_guest::wasi::clocks::monotonic_clock,
            },
            generate_all,
        });
    };
}
