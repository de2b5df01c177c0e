//! Task drivers.
