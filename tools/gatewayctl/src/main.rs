//! `gatewayctl`: the operator's and developer's command line. Parsing and printing only; the
//! work is in the library.
//!
//! Errors are reported as one line on stderr, `gatewayctl: <error>: <cause>: …`, never as a
//! backtrace or a multi-line `Debug` dump, with an exit status that says whose problem it is
//! (see [`EXIT_STATUS`]; `tests/errors.rs` runs the binary to check both).

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use gateway_core::account::{AccountsDocument, WeChatMode};
use gateway_core::channel::wechat::simulate::Envelope;
use gatewayctl::{local, send};

mod accounts_cmd;
mod customer_cmd;
mod desk_cmd;
mod local_cmd;
use accounts_cmd::{AccountsCommand, run_accounts};
use customer_cmd::{CustomerCommand, run_customer};
use desk_cmd::{DeskCommand, run_desk};
use local_cmd::{LocalCommand, run_local};

/// The exit statuses, as `--help` prints them.
const EXIT_STATUS: &str = "Exit status: 0 done; 1 the command ran and failed (an AWS or HTTP \
error, a webhook's non-2xx answer) or, for `check` and `push`, found the document invalid; \
2 the command line or an input file is unusable (bad or missing arguments, a file that cannot \
be read or parsed, an account the accounts document does not have). Errors are one line on \
stderr: `gatewayctl: <error>: <cause>: ...`.";

/// Exit status of a command that ran and failed.
const FAILURE: u8 = 1;
/// Exit status of a command line or an input file that cannot be used (clap's own status for
/// argument errors).
const USAGE: u8 = 2;

/// Marks an error the user fixes in the command line or an input file: exit [`USAGE`]. Attached
/// as the context of the error it explains, so the cause stays in the chain.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// `.usage(|| "read FILE")`: like anyhow's `with_context`, marking the error as [`UsageError`].
trait UsageContext<T> {
    fn usage(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<anyhow::Error>> UsageContext<T> for std::result::Result<T, E> {
    fn usage(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| e.into().context(UsageError(what())))
    }
}

#[derive(Parser)]
#[command(
    name = "gatewayctl",
    version,
    about = "Channel gateway operations and local development",
    after_help = EXIT_STATUS
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The local stack (AWS emulator + functions under cargo lambda watch).
    #[command(subcommand)]
    Local(LocalCommand),
    /// Send a signed request as the platform would, to a running webhook.
    #[command(subcommand)]
    Send(SendCommand),
    /// The signed sample events in events/.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Routing and auto-reply rules: validate, explain, deploy.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// The accounts document: validate it, and put each function role's part in its secret.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// An account's daily statistics over a range of days: volumes, complaints by category,
    /// escalations, service levels, undeliverable replies, rule firings, per team.
    Report(gatewayctl::report::ReportArgs),
    /// The desk's sign-in (Cognito): tokens for trying the desk API.
    #[command(subcommand)]
    Desk(DeskCommand),
    /// A customer's data request: export or erase everything kept about one customer.
    #[command(subcommand)]
    Customer(CustomerCommand),
    /// Serve local stand-ins of the WeChat and Weibo APIs (reply sender tests and demo).
    StubPlatforms {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Validate a rules document; exit 1 with every problem (line, column, reason) if invalid.
    Check {
        /// The rules document (YAML).
        file: std::path::PathBuf,
    },
    /// Show which rules fire for a message and why (and why the others do not).
    Explain {
        /// The rules document (YAML).
        file: std::path::PathBuf,
        /// A normalized message (JSON, as on the inbound queue; see docs/message-format.md).
        message: std::path::PathBuf,
        /// The conversation before the message (JSON); default: a new conversation.
        #[arg(long)]
        conversation: Option<std::path::PathBuf>,
        /// Evaluation time (RFC 3339); default: the message's received_at_ms.
        #[arg(long)]
        at: Option<String>,
        /// Print the explanation as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Validate, then store a rules document where the router reads it (the table's CONFIG
    /// item). The router picks it up within RULES_CACHE_SECS.
    Push {
        /// The rules document (YAML).
        file: std::path::PathBuf,
        /// The conversations table.
        #[arg(long, env = "TABLE_NAME")]
        table: String,
        /// Endpoint override (local emulator); default: the AWS SDK's usual resolution.
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: Option<String>,
    },
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Regenerate events/ from the fixtures in events/*/messages.
    Generate {
        /// Repository root.
        #[arg(long, default_value = ".")]
        root: std::path::PathBuf,
    },
}

#[derive(clap::Args)]
struct Target {
    /// Accounts document (JSON) holding the account's credentials.
    #[arg(long, env = "GATEWAY_ACCOUNTS_FILE")]
    accounts: std::path::PathBuf,
    /// Account name (the `{account}` of the webhook path).
    #[arg(long)]
    account: String,
    /// Full webhook URL (e.g. a deployed API's `https://…/wechat/demo`); defaults to the
    /// local function under cargo lambda watch.
    #[arg(long)]
    webhook_url: Option<String>,
    /// Base URL of cargo lambda watch.
    #[arg(
        long,
        env = "GATEWAY_LAMBDA_URL",
        default_value = "http://127.0.0.1:9000"
    )]
    lambda_url: String,
    /// Sender: WeChat OpenID or Weibo UID.
    #[arg(long)]
    from: String,
    /// Text of a text message.
    #[arg(long, conflicts_with = "event")]
    text: Option<String>,
    /// Event name instead of text (WeChat: subscribe, CLICK…; Weibo: follow, click…).
    #[arg(long)]
    event: Option<String>,
    /// Event key (menu key, QR scene).
    #[arg(long)]
    key: Option<String>,
    /// Send the same request again, as the platforms do, after an answer other than 2xx or 4xx
    /// (or none), up to this many times, one second apart.
    #[arg(long, default_value_t = 0)]
    retries: u32,
}

#[derive(Subcommand)]
enum SendCommand {
    /// A WeChat push (plaintext, compatible or secure envelope).
    Wechat {
        #[command(flatten)]
        target: Target,
        /// plaintext, compatible or secure; default: the account's mode.
        #[arg(long)]
        envelope: Option<String>,
        /// Platform MsgId (reuse one to simulate the platform's retry).
        #[arg(long)]
        msg_id: Option<String>,
        /// A location message instead of text: `LAT,LNG[,LABEL]`.
        #[arg(long, conflicts_with_all = ["text", "event"])]
        location: Option<String>,
        /// A photo, voice note or video instead of text.
        #[command(flatten)]
        media: Box<send::WeChatMediaArgs>,
        /// The `TEMPLATESENDJOBFINISH` report of the template message --msg-id instead of text,
        /// with this `Status`: `success`, `failed:user block` or `failed: system failed`.
        #[arg(long, requires = "msg_id", conflicts_with_all = ["text", "event", "location"])]
        template_status: Option<String>,
    },
    /// A Weibo push (JSON).
    Weibo {
        #[command(flatten)]
        target: Target,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => match e.kind() {
            clap::error::ErrorKind::DisplayHelp
            | clap::error::ErrorKind::DisplayVersion
            | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
            _ => {
                eprintln!("gatewayctl: {}", clap_one_line(&e.render().to_string()));
                return ExitCode::from(USAGE);
            }
        },
    };
    let outcome = tokio::runtime::Runtime::new()
        .context("start the async runtime")
        .and_then(|runtime| runtime.block_on(run(cli.command)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatewayctl: {}", one_line(&e));
            ExitCode::from(if e.downcast_ref::<UsageError>().is_some() {
                USAGE
            } else {
                FAILURE
            })
        }
    }
}

/// An error and its causes on one line, `error: cause: cause`. A cause whose text the line
/// already holds (errors that repeat their source) is left out; a multi-line message (e.g. a
/// rules document's problem list) is joined with `; `.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = join_lines(&cause.to_string());
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn join_lines(text: &str) -> String {
    let mut joined = String::new();
    for piece in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !joined.is_empty() {
            joined.push_str(if joined.ends_with(':') { " " } else { "; " });
        }
        joined.push_str(piece);
    }
    joined
}

/// clap's argument error on one line: the message with its details and tips, then the usage
/// (`error: …\n  detail\n\n  tip: …\n\nUsage: …\n\nFor more information, try '--help'.`).
fn clap_one_line(rendered: &str) -> String {
    let mut message = Vec::new();
    let mut usage = None;
    for paragraph in rendered.split("\n\n") {
        let paragraph = paragraph.trim();
        if let Some(u) = paragraph.strip_prefix("Usage: ") {
            usage = Some(join_lines(u));
        } else if !paragraph.is_empty() && !paragraph.starts_with("For more information") {
            message.push(join_lines(
                paragraph.strip_prefix("error: ").unwrap_or(paragraph),
            ));
        }
    }
    let mut line = message.join("; ");
    if let Some(usage) = usage {
        line.push_str(&format!(" (usage: {usage}; see --help)"));
    }
    line
}

async fn run(command: Command) -> Result<()> {
    match command {
        Command::Local(cmd) => run_local(cmd).await,
        Command::Send(cmd) => run_send(cmd).await,
        Command::Rules(cmd) => run_rules(cmd).await,
        Command::Accounts(cmd) => run_accounts(cmd).await,
        Command::Report(args) => run_report(args).await,
        Command::Desk(cmd) => run_desk(cmd).await,
        Command::Customer(cmd) => run_customer(cmd).await,
        Command::StubPlatforms { listen } => gatewayctl::stub::serve(listen).await,
        Command::Events(EventsCommand::Generate { root }) => {
            let generated = gatewayctl::events::generate(&root)?;
            gatewayctl::events::write(&root, &generated)?;
            println!("wrote {} sample event(s)", generated.len());
            Ok(())
        }
    }
}

async fn run_rules(cmd: RulesCommand) -> Result<()> {
    use gateway_core::rules;
    let read =
        |p: &std::path::Path| std::fs::read_to_string(p).usage(|| format!("read {}", p.display()));
    match cmd {
        RulesCommand::Check { file } => match rules::check(&read(&file)?) {
            Ok(summary) => println!("{}: valid\n{summary}", file.display()),
            Err(e) => {
                eprintln!("{}: invalid\n{e}", file.display());
                std::process::exit(1);
            }
        },
        RulesCommand::Explain {
            file,
            message,
            conversation,
            at,
            json,
        } => {
            let set = rules::RuleSet::from_yaml(&read(&file)?)
                .usage(|| format!("{}: invalid", file.display()))?;
            let message: gateway_core::NormalizedMessage = serde_json::from_str(&read(&message)?)
                .usage(|| {
                "the message is not a normalized message (docs/message-format.md)".into()
            })?;
            let conversation: Option<gateway_core::conversation::Conversation> = conversation
                .map(|p| -> Result<_> { Ok(serde_json::from_str(&read(&p)?)?) })
                .transpose()
                .usage(|| "the conversation is not valid JSON of a conversation".into())?;
            let at = match at {
                Some(t) => chrono::DateTime::parse_from_rfc3339(&t)
                    .usage(|| "--at must be RFC 3339, e.g. 2026-11-22T09:30:00+08:00".into())?
                    .with_timezone(&chrono::Utc),
                None => chrono::DateTime::from_timestamp_millis(message.received_at_ms)
                    .ok_or_else(|| UsageError("received_at_ms out of range".into()))?,
            };
            let explanation = rules::explain(&set, &message, conversation.as_ref(), at);
            if json {
                println!("{}", serde_json::to_string_pretty(&explanation)?);
            } else {
                println!("{explanation}");
            }
        }
        RulesCommand::Push {
            file,
            table,
            endpoint,
        } => {
            let sdk = local::ops_config(endpoint.as_deref()).await;
            let store =
                gateway_aws::DynamoDbRulesStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
            match store
                .push(&read(&file)?, chrono::Utc::now().timestamp_millis())
                .await?
            {
                Ok(version) => println!("{}: pushed as version {version}", file.display()),
                Err(e) => {
                    eprintln!("{}: invalid, nothing pushed\n{e}", file.display());
                    std::process::exit(1);
                }
            }
        }
    }
    Ok(())
}

async fn run_report(args: gatewayctl::report::ReportArgs) -> Result<()> {
    let channels = args.channels().map_err(UsageError)?;
    let sdk = local::ops_config(args.endpoint.as_deref()).await;
    let stats = gateway_aws::DynamoDbStats::new(aws_sdk_dynamodb::Client::new(&sdk), &args.table);
    let report = gatewayctl::report::fetch(&stats, &args.account, &channels, args.from, args.to)
        .await
        .context("read the statistics")?;
    print!("{}", gatewayctl::report::render(&report, args.format));
    Ok(())
}

fn load_accounts(path: &std::path::Path) -> Result<AccountsDocument> {
    let text = std::fs::read_to_string(path).usage(|| format!("read {}", path.display()))?;
    AccountsDocument::from_json(&text).usage(|| format!("{}: invalid", path.display()))
}

async fn run_send(cmd: SendCommand) -> Result<()> {
    let (target, url, request) = match cmd {
        SendCommand::Wechat {
            target,
            envelope,
            msg_id,
            location,
            media,
            template_status,
        } => {
            let accounts = load_accounts(&target.accounts)?;
            let envelope = match envelope.as_deref() {
                Some("plaintext") => Envelope::Plaintext,
                Some("compatible") => Envelope::Compatible,
                Some("secure") => Envelope::Secure,
                Some(other) => {
                    return Err(UsageError(format!(
                        "unknown envelope `{other}` (plaintext, compatible or secure)"
                    ))
                    .into());
                }
                None => match accounts.wechat.get(&target.account).map(|a| a.mode) {
                    Some(WeChatMode::Plaintext) | None => Envelope::Plaintext,
                    Some(WeChatMode::Compatible) => Envelope::Compatible,
                    Some(WeChatMode::Secure) => Envelope::Secure,
                },
            };
            let now = send::now_secs();
            let id = msg_id.unwrap_or_else(|| format!("{now}{}", send::nonce()));
            let xml = match (&location, &target.text, &target.event) {
                _ if media.is_some() => media.xml(&target.from, &id, now),
                _ if template_status.is_some() => send::wechat_template_finish_xml(
                    &target.from,
                    &id,
                    template_status.as_deref().unwrap_or_default(),
                    now,
                ),
                (Some(location), _, _) => {
                    let (degrees, label) =
                        send::parse_location(location).map_err(|e| UsageError(e.to_string()))?;
                    send::wechat_location_xml(&target.from, degrees, &label, &id, now)
                }
                (None, _, Some(event)) => {
                    send::wechat_event_xml(&target.from, event, target.key.as_deref(), now)
                }
                (None, text, None) => send::wechat_text_xml(
                    &target.from,
                    text.as_deref().unwrap_or("hello"),
                    &id,
                    now,
                ),
            };
            let request = send::wechat_push(&accounts, &target.account, &xml, envelope, now)
                .usage(|| target.accounts.display().to_string())?;
            let url = target.webhook_url.clone().unwrap_or_else(|| {
                format!(
                    "{}/lambda-url/wechat-webhook/wechat/{}",
                    target.lambda_url, target.account
                )
            });
            (target, url, request)
        }
        SendCommand::Weibo { target } => {
            let accounts = load_accounts(&target.accounts)?;
            let receiver = accounts
                .weibo
                .get(&target.account)
                .and_then(|a| a.receiver_uid.clone())
                .unwrap_or_else(|| "1902538057".into());
            let now = send::now_secs();
            let created = gateway_core::channel::weibo::simulate::created_at(now)
                .context("format created_at")?;
            let body = match (&target.text, &target.event) {
                (_, Some(subtype)) => {
                    send::weibo_event_json(&receiver, &target.from, subtype, &created)
                }
                (text, None) => gateway_core::channel::weibo::simulate::text_body(
                    receiver.parse().unwrap_or_default(),
                    target
                        .from
                        .parse()
                        .usage(|| "--from must be a numeric Weibo UID".into())?,
                    &created,
                    text.as_deref().unwrap_or("hello"),
                ),
            };
            let request = send::weibo_push(&accounts, &target.account, &body, now * 1000)
                .usage(|| target.accounts.display().to_string())?;
            let url = target.webhook_url.clone().unwrap_or_else(|| {
                format!(
                    "{}/lambda-url/weibo-webhook/weibo/{}",
                    target.lambda_url, target.account
                )
            });
            (target, url, request)
        }
    };
    let (status, body) =
        send::send_retrying(&gatewayctl::http_client(), &url, &request, target.retries).await?;
    println!(
        "{} {} -> {status} {}",
        target.account,
        target
            .text
            .as_deref()
            .or(target.event.as_deref())
            .unwrap_or(""),
        if body.is_empty() {
            "(empty body)"
        } else {
            &body
        }
    );
    if !(200..300).contains(&status) {
        std::process::exit(1);
    }
    Ok(())
}
