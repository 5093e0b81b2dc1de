//! Sans-IO L2TPv3 control plane (RFC 3931).

pub mod reliable;
pub mod seq;
