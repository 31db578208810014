//! A stand-in of the Lambda runtime API for running a function binary as a plain process, as
//! Lambda runs it in a sandbox: the function's runtime client long-polls
//! `GET …/runtime/invocation/next` and posts `…/{id}/response` or `…/{id}/error` (Lambda
//! developer guide, "Using the Lambda runtime API for custom runtimes"). Used by the tests that
//! need real deadlines and by the cold-start bench; HTTP/1.1 with `Content-Length` bodies only,
//! which is what the runtime client sends.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

/// What the function's runtime client asked of, or told, the runtime API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `GET …/runtime/invocation/next`: it waits for an event.
    Next,
    /// `POST …/runtime/invocation/{id}/response` (`ok`) or `…/{id}/error`.
    Posted {
        /// The request id.
        id: String,
        /// `response` rather than `error`.
        ok: bool,
        /// What it posted.
        body: String,
    },
    /// Anything else (`POST …/runtime/init/error`, …), as `METHOD path: body`.
    Other(String),
}

/// What to do after a [`Call`].
pub enum Answer {
    /// Send these bytes (the HTTP response to [`Call::Next`], from [`invocation`]).
    Event(Vec<u8>),
    /// Go on serving the connection.
    Continue,
    /// Close the connection.
    Stop,
}

/// Reads one HTTP/1.1 request (request line, headers, `Content-Length` body) as method, path
/// and body; `None` when the connection closed.
pub fn read_request<R: BufRead>(
    reader: &mut R,
) -> std::io::Result<Option<(String, String, String)>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 {
            return Ok(None);
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    Ok(Some((
        method,
        path,
        String::from_utf8_lossy(&body).into_owned(),
    )))
}

/// Serves one connection of a function's runtime client, handing every call to `on_call`:
/// posts are acknowledged (202) before `on_call` sees them; a [`Call::Next`] is answered with
/// the event `on_call` returns (it may block until there is one).
pub fn serve_connection(
    stream: TcpStream,
    mut on_call: impl FnMut(Call) -> Answer,
) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    while let Some((method, path, body)) = read_request(&mut reader)? {
        let call = if method == "GET" && path.ends_with("/runtime/invocation/next") {
            Call::Next
        } else {
            let accepted = r#"{"status":"OK"}"#;
            write!(
                writer,
                "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{accepted}",
                accepted.len()
            )?;
            match path.split_once("/runtime/invocation/") {
                Some((_, rest)) if method == "POST" => {
                    let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
                    Call::Posted {
                        id: id.to_string(),
                        ok: kind == "response",
                        body,
                    }
                }
                _ => Call::Other(format!("{method} {path}: {body}")),
            }
        };
        match on_call(call) {
            Answer::Event(bytes) => writer.write_all(&bytes)?,
            Answer::Continue => {}
            Answer::Stop => return Ok(()),
        }
    }
    Ok(())
}

/// The HTTP response to `…/invocation/next` carrying `event` (JSON text) for request `id`,
/// with the headers Lambda sends: the deadline (Unix ms), the function's ARN, a trace id.
pub fn invocation(function: &str, deadline_ms: u128, id: &str, event: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
         Lambda-Runtime-Aws-Request-Id: {id}\r\n\
         Lambda-Runtime-Deadline-Ms: {deadline_ms}\r\n\
         Lambda-Runtime-Invoked-Function-Arn: \
         arn:aws:lambda:us-east-1:123456789012:function:{function}\r\n\
         Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\n\
         Content-Length: {}\r\n\r\n{event}",
        event.len()
    )
    .into_bytes()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn reads_requests_one_after_another_and_stops_at_the_end() {
        let wire = "POST /2018-06-01/runtime/invocation/abc/response HTTP/1.1\r\n\
                    Host: x\r\nContent-Length: 4\r\n\r\n{\"a\"GET /next HTTP/1.1\r\n\r\n";
        let mut reader = Cursor::new(wire.as_bytes().to_vec());
        let first = read_request(&mut reader).unwrap().unwrap();
        assert_eq!(first.0, "POST");
        assert!(first.1.ends_with("/abc/response"));
        assert_eq!(first.2, "{\"a\"");
        let second = read_request(&mut reader).unwrap().unwrap();
        assert_eq!(
            (second.0.as_str(), second.1.as_str(), second.2.as_str()),
            ("GET", "/next", "")
        );
        assert!(read_request(&mut reader).unwrap().is_none());
    }

    #[test]
    fn an_invocation_carries_its_body_length_and_deadline() {
        let bytes = invocation("f", 1234, "id-1", "{\"x\":1}");
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.contains("Lambda-Runtime-Deadline-Ms: 1234\r\n"),
            "{text}"
        );
        assert!(
            text.contains("Lambda-Runtime-Aws-Request-Id: id-1\r\n"),
            "{text}"
        );
        assert!(
            text.ends_with("Content-Length: 7\r\n\r\n{\"x\":1}"),
            "{text}"
        );
    }
}
