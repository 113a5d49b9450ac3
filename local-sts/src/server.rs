//! The HTTP side of [`LocalSts`](crate::LocalSts): a hyper 1 server on a loopback listener.

use std::sync::Arc;
use std::time::Duration;

use aws_smithy_async::rt::sleep::{AsyncSleep, SharedAsyncSleep};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::reply::Answer;
use crate::sts::{State, StsRequest};

/// Accepts connections until the task is aborted; aborting it drops the connection tasks too.
pub(crate) async fn serve(listener: TcpListener, state: Arc<State>, sleep: SharedAsyncSleep) {
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors, say: wait for connections to close instead of spinning.
            Err(_) => {
                sleep.sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (state, sleep) = (state.clone(), sleep.clone());
        connections.spawn(async move {
            let service = service_fn(move |request| {
                let state = state.clone();
                let sleep = sleep.clone();
                async move { respond(&state, &sleep, request).await }
            });
            // A client that hangs up mid-request is not an error of the server.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

/// The answer to one request; an error makes hyper close the connection without answering.
async fn respond(
    state: &State,
    sleep: &SharedAsyncSleep,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ConnectionReset> {
    let (parts, body) = request.into_parts();
    let reply = match body.collect().await {
        Ok(body) => {
            let body = body.to_bytes();
            let headers = parts
                .headers
                .iter()
                .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
                .collect();
            state.handle(StsRequest {
                method: parts.method.as_str(),
                path_and_query: parts.uri.path_and_query().map_or("/", |p| p.as_str()),
                headers,
                body: &body,
            })
        }
        Err(_) => Answer::error(400, "MalformedInput", "the request body could not be read"),
    };
    if !reply.delay.is_zero() {
        sleep.sleep(reply.delay).await;
    }
    if reply.reset {
        return Err(ConnectionReset);
    }
    Ok(Response::builder()
        .status(reply.status)
        // The server's own clock, which a test may set apart from the client's.
        .header("date", &reply.date)
        .header("content-type", "text/xml")
        .header("x-amzn-requestid", &reply.request_id)
        .body(Full::new(Bytes::from(reply.body)))
        .expect("status and headers are valid"))
}

/// The scripted failure [`Fault::ConnectionReset`](super::Fault::ConnectionReset).
#[derive(Debug)]
struct ConnectionReset;

impl std::fmt::Display for ConnectionReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by a scripted fault")
    }
}

impl std::error::Error for ConnectionReset {}
