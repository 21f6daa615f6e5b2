//! The end-to-end tests: one binary (as ripgrep's `tests/tests.rs`), so
//! that the harness in [`common`] is compiled and linked once. Each module
//! runs the real `esplora-bridge` binary against real clients and real
//! parts: a pty board, sockudo, Chromium, systemd's and Debian's tools.

mod common;

mod access;
mod cluster;
mod commands;
mod config;
mod demo;
mod hardening;
mod history;
mod hostile_board;
mod limits;
mod mqtt;
mod packaging;
mod page;
mod plotter;
mod poll;
mod relay;
mod replay;
mod routes;
mod serial;
mod service;
mod slow;
mod soak;
mod sse;
mod ws;
