//! Zero-copy wire codec for L2TPv2 (RFC 2661) and L2TPv3 (RFC 3931).
//!
//! Data-path views ([`data`], [`v2`]) never allocate and never panic on
//! untrusted bytes; the control path ([`control`], [`avp`], [`message`])
//! allocates for AVP lists but also never panics. Modelled on smoltcp's
//! `wire` module: `Packet<T>` views with `new_checked`, and `Repr` structs
//! with `parse`/`emit`. No I/O here.

#![forbid(unsafe_code)]

/// Declares a `u16` code enum with named values, an `Other(u16)` catch-all,
/// lossless `from_u16`/`to_u16`, and a human description per value.
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vm:meta])* $v:ident = $n:literal => $text:literal, )* }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vm])* $v, )*
            /// A value this codec has no name for.
            Other(u16),
        }

        impl $name {
            /// Every named value, in numeric order.
            pub const ALL: &'static [$name] = &[$($name::$v),*];

            pub const fn from_u16(v: u16) -> $name {
                match v {
                    $( $n => $name::$v, )*
                    other => $name::Other(other),
                }
            }

            pub const fn to_u16(self) -> u16 {
                match self {
                    $( $name::$v => $n, )*
                    $name::Other(v) => v,
                }
            }

            /// The RFC's wording for the value.
            pub const fn description(self) -> &'static str {
                match self {
                    $( $name::$v => $text, )*
                    $name::Other(_) => "unknown",
                }
            }
        }

        impl From<u16> for $name {
            fn from(v: u16) -> $name {
                $name::from_u16(v)
            }
        }

        impl From<$name> for u16 {
            fn from(v: $name) -> u16 {
                v.to_u16()
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{} ({})", self.to_u16(), self.description())
            }
        }
    };
}

pub mod avp;
pub mod control;
pub mod data;
mod error;
pub mod json;
pub mod message;
pub mod result;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod v2;

pub use error::{Error, Result};
