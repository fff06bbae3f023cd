//! The parts of the `ponto-bridge` command that the integration suite and the benchmarks reuse:
//! `demo` (the service and the sandbox on loopback, and linking an organization through the
//! browser steps). Here rather than in the service library, which never depends on the sandbox.

pub mod demo;
pub mod demo_receiver;
