//! The accept loop shared by the test servers (S3, contract proxy): one hyper
//! connection task per socket, all of them ended by `stop`.

use std::error::Error;

use hyper::body::{Body, Incoming};
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub fn serve<S, B>(listener: TcpListener, stop: CancellationToken, service: S)
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn Error + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
{
    tokio::spawn(async move {
        loop {
            let socket = tokio::select! {
                () = stop.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((socket, _)) => socket,
                    Err(_) => continue,
                },
            };
            let (service, stop) = (service.clone(), stop.clone());
            tokio::spawn(async move {
                let builder = ConnBuilder::new(TokioExecutor::new());
                let conn = builder.serve_connection(TokioIo::new(socket), service);
                tokio::select! {
                    _ = conn => {}
                    () = stop.cancelled() => {}
                }
            });
        }
    });
}
