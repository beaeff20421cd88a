//! faultline's workloads: the target adapters that turn register operations into HTTP requests and
//! answers into history outcomes. (Generators and the runner that records histories come next.)

pub mod adapter;
