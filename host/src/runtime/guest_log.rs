//! Guest stdout/stderr as log lines: each line a component writes becomes a `tracing` event
//! carrying the component and the request id, so a component's own output can be found under
//! the same id as the request that caused it. A reused instance serves many requests: its
//! tag is moved to each request as it starts.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Longest line kept; a guest writing without newlines is cut into lines of this size.
const MAX_LINE: usize = 16 * 1024;

/// Where a guest's output goes.
#[derive(Clone)]
pub struct GuestLog {
    component: Arc<str>,
    /// Shared by the instance's stdout and stderr, so one [`GuestLog::retag`] moves both.
    request_id: Arc<Mutex<Arc<str>>>,
    stream: &'static str,
}

impl GuestLog {
    /// Output of `component` while serving `request_id`, on `stream` (`stdout`/`stderr`).
    pub fn new(component: &str, request_id: &str, stream: &'static str) -> GuestLog {
        GuestLog {
            component: Arc::from(component),
            request_id: Arc::new(Mutex::new(Arc::from(request_id))),
            stream,
        }
    }

    /// The same output on another stream (`stdout`/`stderr`), sharing this one's tag.
    pub fn on(&self, stream: &'static str) -> GuestLog {
        GuestLog {
            stream,
            ..self.clone()
        }
    }

    /// Tags what follows with `request_id`.
    pub fn retag(&self, request_id: Arc<str>) {
        *self
            .request_id
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = request_id;
    }

    fn request_id(&self) -> Arc<str> {
        self.request_id
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            log: self.clone(),
            pending: Vec::new(),
        })
    }
}

struct LineWriter {
    log: GuestLog,
    pending: Vec<u8>,
}

impl LineWriter {
    fn emit(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        tracing::info!(
            target: "bourse::guest",
            component = %self.log.component,
            request_id = %self.log.request_id(),
            stream = self.log.stream,
            "{text}"
        );
    }

    fn drain_lines(&mut self) {
        while let Some(nl) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=nl).collect();
            self.emit(&line[..line.len() - 1]);
        }
        if self.pending.len() >= MAX_LINE {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line);
        }
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.pending.extend_from_slice(buf);
        self.drain_lines();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let rest = std::mem::take(&mut self.pending);
        if !rest.is_empty() {
            self.emit(&rest);
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            self.emit(&self.pending);
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Log lines go to the returned buffer while the guard lives.
    fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        (captured, tracing::subscriber::set_default(subscriber))
    }

    #[tokio::test]
    async fn each_guest_line_is_logged_with_component_and_request_id() {
        let (captured, _guard) = capture();
        let log = GuestLog::new("faulty", "req-42", "stderr");
        let mut out = Pin::from(log.async_stream());
        out.write_all(b"first line\nsecond ").await.expect("write");
        out.write_all(b"half\nunterminated").await.expect("write");
        drop(out);
        let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        for (line, want) in lines
            .iter()
            .zip(["first line", "second half", "unterminated"])
        {
            assert!(line.contains(want), "{line}");
            assert!(
                line.contains("component=faulty")
                    && line.contains("request_id=req-42")
                    && line.contains("stream=\"stderr\""),
                "{line}"
            );
        }
    }

    #[tokio::test]
    async fn a_retagged_log_tags_both_streams_with_the_new_request() {
        let (captured, _guard) = capture();
        let stdout = GuestLog::new("swap", "req-1", "stdout");
        let stderr = stdout.on("stderr");
        let mut out = Pin::from(stdout.async_stream());
        let mut err = Pin::from(stderr.async_stream());
        out.write_all(b"one\n").await.expect("write");
        stdout.retag(Arc::from("req-2"));
        out.write_all(b"two\n").await.expect("write");
        err.write_all(b"three\n").await.expect("write");
        let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].contains("request_id=req-1"), "{}", lines[0]);
        assert!(lines[1].contains("request_id=req-2"), "{}", lines[1]);
        assert!(
            lines[2].contains("request_id=req-2") && lines[2].contains("stream=\"stderr\""),
            "{}",
            lines[2]
        );
    }
}
