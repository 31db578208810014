//! A TCP proxy on 127.0.0.1 in front of the emulator: records every HTTP request
//! (`X-Amz-Target` and body) and can answer chosen requests itself with an AWS error, for the
//! faults the emulator never produces (DynamoDB transaction conflicts, throttling).
//!
//! The AWS SDK sends one request at a time on a connection and every JSON-protocol request has
//! a `Content-Length` body, so requests are read one by one; responses are copied back as they
//! are, except for an injected answer, which is written instead of forwarding the request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Call {
    /// `X-Amz-Target`, e.g. `AmazonSQS.SendMessage`, `DynamoDB_20120810.GetItem`.
    pub target: String,
    /// The JSON body.
    pub body: String,
    /// True when the proxy answered it with an injected fault instead of forwarding it.
    pub injected: bool,
}

/// An error to answer instead of forwarding.
#[derive(Debug, Clone)]
struct Fault {
    target: String,
    remaining: usize,
    status: u16,
    body: String,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    faults: Vec<Fault>,
}

/// The proxy. It runs until the test process ends.
pub struct WireProxy {
    url: String,
    state: Arc<Mutex<State>>,
}

/// The body DynamoDB answers when a transaction is cancelled, with one reason per item
/// ("TransactionCanceledException", DynamoDB API reference): `codes` like `"None"`,
/// `"TransactionConflict"`, `"ThrottlingError"`.
pub fn transaction_cancelled(codes: &[&str]) -> String {
    let reasons: Vec<serde_json::Value> = codes
        .iter()
        .map(|c| match *c {
            "None" => serde_json::json!({ "Code": "None" }),
            "TransactionConflict" => serde_json::json!({
                "Code": c,
                "Message": "Transaction is ongoing for the item"
            }),
            other => serde_json::json!({ "Code": other, "Message": "Throughput exceeds the current capacity of your table or index." }),
        })
        .collect();
    serde_json::json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": format!(
            "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
            codes.join(", ")
        ),
        "CancellationReasons": reasons,
    })
    .to_string()
}

impl WireProxy {
    /// A proxy to `upstream_url` (`http://host:port`).
    pub fn start(upstream_url: &str) -> Self {
        let upstream = upstream_url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (upstream, shared) = (upstream.clone(), shared.clone());
                std::thread::spawn(move || forward(client, &upstream, &shared));
            }
        });
        WireProxy { url, state }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Answers the next `times` requests to `target` (e.g.
    /// `DynamoDB_20120810.TransactWriteItems`) with `status` and the JSON `body`.
    pub fn fail_next(&self, target: &str, times: usize, status: u16, body: String) {
        self.state.lock().unwrap().faults.push(Fault {
            target: target.to_string(),
            remaining: times,
            status,
            body,
        });
    }

    /// The calls recorded so far, and forgets them.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut self.state.lock().unwrap().calls)
    }

    /// SDK configuration whose clients go through the proxy.
    pub async fn sdk(&self) -> aws_config::SdkConfig {
        gatewayctl::local::emulator_config(&self.url).await
    }
}

/// The injected answer for `target`, if one is due (and counts it).
fn due_fault(state: &Mutex<State>, target: &str) -> Option<(u16, String)> {
    let mut state = state.lock().unwrap();
    let fault = state
        .faults
        .iter_mut()
        .find(|f| f.target == target && f.remaining > 0)?;
    fault.remaining -= 1;
    Some((fault.status, fault.body.clone()))
}

fn forward(client: TcpStream, upstream: &str, state: &Mutex<State>) {
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let (mut to_client, mut from_server) =
        (client.try_clone().unwrap(), server.try_clone().unwrap());
    let mut answer_client = client.try_clone().unwrap();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_server, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Both);
    });
    let mut to_server = server;
    let mut reader = BufReader::new(client);
    loop {
        let mut head = Vec::new();
        let mut target = String::new();
        let mut length = None;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => {
                    let _ = to_server.shutdown(Shutdown::Write);
                    return;
                }
                Ok(_) => {}
            }
            head.extend_from_slice(line.as_bytes());
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            if let Some((name, value)) = trimmed.split_once(':') {
                if name.eq_ignore_ascii_case("x-amz-target") {
                    target = value.trim().to_string();
                } else if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse::<usize>().ok();
                }
            }
        }
        let Some(length) = length else {
            // Not a request this proxy understands (e.g. a chunked body): make it visible.
            state.lock().unwrap().calls.push(Call {
                target: format!("UNPARSED {}", String::from_utf8_lossy(&head)),
                body: String::new(),
                injected: false,
            });
            let _ = to_server.shutdown(Shutdown::Both);
            return;
        };
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let fault = due_fault(state, &target);
        state.lock().unwrap().calls.push(Call {
            target,
            body: String::from_utf8_lossy(&body).into_owned(),
            injected: fault.is_some(),
        });
        if let Some((status, answer)) = fault {
            let response = format!(
                "HTTP/1.1 {status} Bad Request\r\nContent-Type: application/x-amz-json-1.0\r\n\
                 x-amzn-RequestId: INJECTEDBYTHETEST\r\nContent-Length: {}\r\n\r\n{answer}",
                answer.len()
            );
            if answer_client.write_all(response.as_bytes()).is_err() {
                return;
            }
            continue;
        }
        if to_server.write_all(&head).is_err() || to_server.write_all(&body).is_err() {
            return;
        }
    }
}
