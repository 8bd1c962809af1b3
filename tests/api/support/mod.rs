//! What the tests share and start for themselves: in-process workers and worker
//! processes, S3 servers, NATS servers, the OpenAPI-checking proxy, a network that
//! delivers late, certificates.
//! No test file imports another; they all take what they share from here.

pub mod certs;
pub mod contract;
pub mod fleet;
pub mod helpers;
pub mod late;
pub mod moto;
pub mod nats;
pub mod processes;
pub mod s3;
pub mod serve;
pub mod worker;
