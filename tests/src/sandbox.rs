//! A function run by a test the way Lambda runs it in a sandbox: its binary as a child process
//! with `AWS_LAMBDA_RUNTIME_API` pointing at a minimal runtime API served by the test on
//! 127.0.0.1, the Lambda variables and the stack's configuration (any of which a test may
//! override, e.g. to put a [`crate::wire::WireProxy`] between the function and the emulator).

use crate::unique;
use gatewayctl::runtime_api::{self, Answer, Call};
use serde_json::Value;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// The router's timeout in the templates (`infra/sam/template.yaml`): the deadline each
/// of its invocations gets.
pub const ROUTER_TIMEOUT: Duration = Duration::from_secs(30);

/// The reply sender's timeout in the templates.
pub const REPLY_SENDER_TIMEOUT: Duration = Duration::from_secs(180);

/// The functions' configuration, as `tools/stack.sh` writes it for `cargo lambda watch`
/// (`functions.env`): taken from this process (the stack exports it), with the same defaults.
const FUNCTION_ENV: &[(&str, Option<&str>)] = &[
    ("AWS_ENDPOINT_URL", None),
    ("AWS_REGION", None),
    ("AWS_ACCESS_KEY_ID", None),
    ("AWS_SECRET_ACCESS_KEY", None),
    ("QUEUE_URL", None),
    ("DEAD_LETTER_QUEUE_URL", None),
    ("OUTBOUND_QUEUE_URL", None),
    ("OUTBOUND_DEAD_LETTER_QUEUE_URL", None),
    ("MEDIA_QUEUE_URL", None),
    ("MEDIA_DEAD_LETTER_QUEUE_URL", None),
    ("MEDIA_BUCKET", None),
    ("EVENT_BUS_NAME", None),
    ("TABLE_NAME", None),
    ("ACCOUNTS_SECRET_ID", None),
    ("WEBHOOK_SECRET_ID", None),
    ("DELIVERY_SECRET_ID", None),
    ("API_CLIENTS_SECRET_ID", None),
    ("ACCOUNTS_CACHE_SECS", Some("1")),
    ("MAX_CLOCK_SKEW_SECS", Some("300")),
    ("MESSAGE_TTL_DAYS", Some("90")),
    ("RULES_CACHE_SECS", Some("1")),
    ("WECHAT_API_BASE_URL", None),
    ("WEIBO_API_BASE_URL", None),
    ("PLATFORM_TIMEOUT_SECS", Some("2")),
    ("AWS_OPERATION_TIMEOUT_MS", Some("1500")),
    ("TOKEN_LEASE_SECS", Some("10")),
    ("RETRY_BASE_SECS", Some("1")),
    ("RETRY_MAX_SECS", Some("2")),
    ("DELIVERY_CLAIM_TIMEOUT_SECS", Some("30")),
    ("RUST_LOG", Some("info")),
];

/// A function's binary. Cargo gives `CARGO_BIN_EXE_<name>` only to the tests of the binary's
/// own package, so this is the binary next to the test's `deps/` directory (`<target
/// dir>/debug/<function>`), which `tools/stack.sh` (`stack_build`, run by `make test` and
/// `tools/with-stack.sh`) builds before any test runs.
pub fn function_binary(function: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join(function);
    assert!(
        path.is_file(),
        "{} not found: build it first (`cargo build --bin {function}`; make test and \
         tools/with-stack.sh do)",
        path.display()
    );
    path
}

/// What the function's runtime client asked of, or told, the runtime API.
pub enum FromFunction {
    /// `GET …/runtime/invocation/next`: answer with the HTTP response carrying an event.
    Next(oneshot::Sender<Vec<u8>>),
    /// `POST …/runtime/invocation/{id}/response` (`ok`) or `…/error`.
    Result { id: String, ok: bool, body: String },
    /// Anything else (`POST …/runtime/init/error`, …).
    Other(String),
}

/// How an invocation ended.
#[derive(Debug)]
pub enum Outcome {
    /// The function posted a response.
    Response(Value),
    /// The function posted an error (invocation or init).
    Error(String),
    /// The process exited without answering.
    Exited(ExitStatus),
}

/// Serves one connection of the function's runtime client
/// ([`gatewayctl::runtime_api`]), passing what it says on to the test.
fn serve_runtime_api(
    stream: TcpStream,
    to_test: &mpsc::UnboundedSender<FromFunction>,
) -> std::io::Result<()> {
    runtime_api::serve_connection(stream, |call| {
        let message = match call {
            Call::Next => {
                let (give, take) = oneshot::channel();
                if to_test.send(FromFunction::Next(give)).is_err() {
                    return Answer::Stop;
                }
                // Long poll: blocks until the test hands out an event (or drops the sandbox).
                return match take.blocking_recv() {
                    Ok(response) => Answer::Event(response),
                    Err(_) => Answer::Stop,
                };
            }
            Call::Posted { id, ok, body } => FromFunction::Result { id, ok, body },
            Call::Other(what) => FromFunction::Other(what),
        };
        if to_test.send(message).is_err() {
            Answer::Stop
        } else {
            Answer::Continue
        }
    })
}

/// The HTTP response to `…/invocation/next` carrying `event`, due `timeout` from now.
fn invocation(function: &str, timeout: Duration, id: &str, event: &Value) -> Vec<u8> {
    let deadline_ms = (SystemTime::now() + timeout)
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    runtime_api::invocation(function, deadline_ms, id, &event.to_string())
}

/// A `message-router` process run by the test the way Lambda runs it in a sandbox: started
/// with `AWS_LAMBDA_RUNTIME_API` pointing at this sandbox's own runtime API on 127.0.0.1,
/// the Lambda variables and the functions' configuration, and handed one event per
/// `…/invocation/next`. Its output goes to a log file in the temporary directory (kept if the
/// test fails). Dropping the sandbox kills the process (if still alive) and stops the runtime
/// API.
pub struct Sandbox {
    function: String,
    timeout: Duration,
    child: Child,
    from_function: mpsc::UnboundedReceiver<FromFunction>,
    /// A `…/next` the function is waiting on.
    waiting: Option<oneshot::Sender<Vec<u8>>>,
    invocations: u32,
    runtime_api: SocketAddr,
    stop: Arc<AtomicBool>,
    /// The function's log file.
    pub log: PathBuf,
}

impl Sandbox {
    /// The message router, with the stack's configuration.
    pub fn router() -> Self {
        Self::start("message-router", ROUTER_TIMEOUT, &[])
    }

    /// `function` with the stack's configuration, `overrides` replacing variables (e.g.
    /// `AWS_ENDPOINT_URL` pointing at a [`crate::wire::WireProxy`]); each invocation gets
    /// `timeout`.
    pub fn start(function: &str, timeout: Duration, overrides: &[(&str, &str)]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let runtime_api = listener.local_addr().unwrap();
        let (to_test, from_function) = mpsc::unbounded_channel();
        let stop = Arc::new(AtomicBool::new(false));
        {
            let stop = stop.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Ok(stream) = stream {
                        let to_test = to_test.clone();
                        std::thread::spawn(move || serve_runtime_api(stream, &to_test));
                    }
                }
            });
        }
        let log =
            std::env::temp_dir().join(format!("{}.log", unique(&format!("sandbox-{function}"))));
        eprintln!("{function} log: {}", log.display());
        let output = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(function_binary(function));
        command
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin")
            .env("TZ", ":UTC")
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", function)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function}"),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "faults");
        for (name, default) in FUNCTION_ENV {
            if overrides.iter().any(|(n, _)| n == name) {
                continue;
            }
            match std::env::var_os(name) {
                Some(value) => {
                    command.env(name, value);
                }
                None => {
                    let default = default.unwrap_or_else(|| {
                        panic!(
                            "{name} is not set: this test needs the local stack; run `make test`"
                        )
                    });
                    command.env(name, default);
                }
            }
        }
        for (name, value) in overrides {
            command.env(name, value);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", function_binary(function).display()));
        Sandbox {
            function: function.to_string(),
            timeout,
            child,
            from_function,
            waiting: None,
            invocations: 0,
            runtime_api,
            stop,
            log,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Hands `event` over and returns the function's response; panics on anything else.
    pub async fn handle(&mut self, event: &Value) -> Value {
        match self.invoke(event).await {
            Outcome::Response(response) => response,
            other => panic!(
                "{} invocation: {other:?}; log: {}",
                self.function,
                self.log.display()
            ),
        }
    }

    /// The next thing the function asks or tells, or how the process ended if it exited.
    pub async fn next_from_function(
        &mut self,
        deadline: Instant,
    ) -> Result<FromFunction, ExitStatus> {
        loop {
            let poll = Duration::from_millis(50);
            if let Ok(got) = tokio::time::timeout(poll, self.from_function.recv()).await {
                return Ok(got.expect("the runtime API stopped"));
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                // Whatever it sent just before exiting is still on its way.
                return match tokio::time::timeout(poll * 4, self.from_function.recv()).await {
                    Ok(Some(got)) => Ok(got),
                    _ => Err(status),
                };
            }
            assert!(
                Instant::now() < deadline,
                "the function neither answered nor exited; log: {}",
                self.log.display()
            );
        }
    }

    /// Hands `event` to the function as one invocation (waiting for its `…/next` first) and
    /// returns how the invocation ended.
    pub async fn invoke(&mut self, event: &Value) -> Outcome {
        let deadline = Instant::now() + self.timeout * 2;
        let next = loop {
            if let Some(next) = self.waiting.take() {
                break next;
            }
            match self.next_from_function(deadline).await {
                Ok(FromFunction::Next(next)) => self.waiting = Some(next),
                Ok(FromFunction::Result { id, body, .. }) => {
                    panic!("a result for {id}, never handed out: {body}")
                }
                Ok(FromFunction::Other(what)) => return Outcome::Error(what),
                Err(status) => return Outcome::Exited(status),
            }
        };
        self.invocations += 1;
        let id = format!("{}-{}", self.pid(), self.invocations);
        // A send that fails means the function is gone; the loop below sees it exit.
        let _ = next.send(invocation(&self.function, self.timeout, &id, event));
        loop {
            match self.next_from_function(deadline).await {
                Ok(FromFunction::Next(next)) => self.waiting = Some(next),
                Ok(FromFunction::Result { id: of, ok, body }) if of == id => {
                    return if ok {
                        Outcome::Response(serde_json::from_str(&body).unwrap())
                    } else {
                        Outcome::Error(body)
                    };
                }
                Ok(FromFunction::Result { id: of, body, .. }) => {
                    panic!("a result for {of} while {id} runs: {body}")
                }
                Ok(FromFunction::Other(what)) => return Outcome::Error(what),
                Err(status) => return Outcome::Exited(status),
            }
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Wakes the runtime API's accept loop so that it sees `stop` and closes.
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.runtime_api);
        // The log is kept when the test fails.
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
