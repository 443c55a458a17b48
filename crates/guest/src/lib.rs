//! Guest-side support shared by every Bourse component.
//!
//! It generates the bindings of the `bourse:platform` imports once (components map them in
//! with `wit_bindgen::generate!`'s `with` option, so types such as `OrderRequest` are the same
//! Rust types everywhere) and adds what each component would otherwise rewrite: handlers as
//! plain functions from [`http::Request`] to [`http::Response`] behind spin-sdk's
//! `#[http_component]` ([`spin`]), outbound GETs, and decimal conversion at the JSON edge.
//! The raw wasi:http path ([`http::serve`]) remains for test fixtures that use no SDK.

/// Decimal strings at the JSON edge (shared with the host through the matching core).
pub use bourse_matching::decimal;
pub mod http;
pub mod outbound;
pub mod spin;

wit_bindgen::generate!({
    inline: r#"
        package bourse:guest;

        world imports {
            import bourse:platform/market@0.1.0;
            import bourse:platform/events@0.1.0;
            import wasi:http/types@0.2.12;
        }
    "#,
    path: "../../wit",
    generate_all,
});

/// wit-bindgen bindings for the `bourse:platform` part of a component: its domain export and
/// the platform imports it uses, in a world written inline, with the shared types mapped to
/// this crate's (wit-bindgen refuses unused mappings, so the component lists the ones its
/// world uses). Everything else — HTTP, key-value, SQL, variables — comes from spin-sdk, as in
/// any Spin component:
/// `bourse_guest::domain_bindings!("package bourse:signals-guest; world guest { import bourse:platform/events@0.1.0; export bourse:platform/indicator@0.1.0; }", "bourse:platform/events@0.1.0": bourse_guest::bourse::platform::events);`
#[macro_export]
macro_rules! domain_bindings {
    ($inline:literal $(, $iface:literal : $module:path)* $(,)?) => {
        wit_bindgen::generate!({
            inline: $inline,
            path: "../../wit",
            with: {
                $($iface: $module,)*
            },
            generate_all,
        });
    };
}

/// Bindings for a component whose world is written inline — HTTP only, with the WIT
/// dependencies at `$path` — mapped to this crate's wasi:http types. Test
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

/// Carries the component's OpenAPI description in its `.wasm`: the file at `$path` (relative
/// to the calling source file, like `include_bytes!`) becomes the custom section
/// `bourse:openapi`, which the host reads at each deploy and merges into `/api/openapi.json`,
/// so the description of a component's routes is kept beside its code and swapped with it:
/// `bourse_guest::openapi!("../openapi.json");`
#[macro_export]
macro_rules! openapi {
    ($path:literal) => {
        // Public rather than `#[used]`: the linker keeps a custom section's statics whole, and
        // on wasm `#[used]` would also copy the bytes into linear memory's data.
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        #[unsafe(link_section = "bourse:openapi")]
        pub static BOURSE_OPENAPI: [u8; include_bytes!($path).len()] = *include_bytes!($path);
    };
}
