//! The HTTP side of [`LocalSts`](super::LocalSts): a hyper 1 server on a loopback listener.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::sts::{Answer, State, StsRequest};

/// Accepts connections until the task is aborted; aborting it drops the connection tasks too.
pub(crate) async fn serve(listener: TcpListener, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(respond(&state, request).await) }
            });
            // A client that hangs up mid-request is not an error of the server.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

async fn respond(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
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
    Response::builder()
        .status(reply.status)
        .header("content-type", "text/xml")
        .header("x-amzn-requestid", &reply.request_id)
        .body(Full::new(Bytes::from(reply.body)))
        .expect("status and headers are valid")
}
