//! `#[reliable]` inside `macro_rules!`: the component name arrives as a
//! `$name:literal` and the self type as `$t:ident` or `$t:ty` (both wrapped in
//! invisible groups by the time the attribute sees them).

#![deny(warnings)]

use reliability_core::reliable;

macro_rules! named_service {
    ($t:ident, $name:literal) => {
        struct $t;

        #[reliable(component = $name)]
        impl $t {
            fn ping(&self) -> u8 {
                1
            }
        }
    };
}

macro_rules! default_named {
    ($t:ty) => {
        #[reliable]
        impl $t {
            fn pong(&self) -> u8 {
                2
            }
        }
    };
}

named_service!(Pinger, "macro_pinger");

struct PongServer;
default_named!(PongServer);

fn main() {
    assert_eq!(Pinger.ping(), 1);
    assert_eq!(PongServer.pong(), 2);

    let snapshot = reliability_core::snapshot();
    let pinger = snapshot.component("macro_pinger");
    assert!(pinger.is_some(), "the `$name:literal` component is missing");
    assert!(pinger.unwrap().method("ping").is_some());
    let pong = snapshot.component("pong_server");
    assert!(
        pong.is_some(),
        "the component named after `$t:ty` is missing"
    );
    assert!(pong.unwrap().method("pong").is_some());
}
