//! rove library.
