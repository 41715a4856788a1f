//! smtp-courier: an async SMTP client.
#![forbid(unsafe_code)]

pub mod error;
pub mod proto;

pub use error::{Error, ProtocolError, Severity, UsageError};
pub use proto::{Envelope, RecipientResult, RecipientStatus, TransactionReport};

#[cfg(feature = "tokio")]
pub mod client;
#[cfg(feature = "tokio")]
pub use client::{Client, ClientConfig, connect_tcp};
