//! A response body that keeps its call's place under the server-wide limit until the
//! last frame is sent, so a stream counts as long as it is open, not only until its
//! headers.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::OwnedSemaphorePermit;

pin_project_lite::pin_project! {
    /// `body`, holding `permit` until it ends or is dropped.
    pub struct Held {
        #[pin]
        body: tonic::body::Body,
        permit: Option<OwnedSemaphorePermit>,
    }
}

impl Held {
    /// Wraps `response`'s body around `permit`.
    pub fn response(
        response: http::Response<tonic::body::Body>,
        permit: OwnedSemaphorePermit,
    ) -> http::Response<tonic::body::Body> {
        response.map(|body| tonic::body::Body::new(Held { body, permit: Some(permit) }))
    }
}

impl Body for Held {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        let frame = std::task::ready!(this.body.poll_frame(cx));
        if frame.is_none() {
            this.permit.take();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
