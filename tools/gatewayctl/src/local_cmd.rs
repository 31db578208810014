//! `gatewayctl local …`: the local stack's commands (setup, desk-setup, pump, event sources,
//! show).

use crate::UsageContext;
use anyhow::Result;
use clap::Subcommand;
use gatewayctl::local;

#[derive(Subcommand)]
pub(crate) enum LocalCommand {
    /// Create queues, table and accounts secret in the emulator; print the functions' env.
    Setup {
        /// Emulator endpoint, e.g. http://127.0.0.1:5000.
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: String,
        /// Resource name prefix.
        #[arg(long, default_value = "gateway")]
        prefix: String,
        /// Accounts document (JSON) to seed the accounts secret with.
        #[arg(long, env = "GATEWAY_ACCOUNTS_FILE")]
        accounts: std::path::PathBuf,
        /// Visibility timeout of both queues, seconds (short by default, so that tests see
        /// redeliveries quickly).
        #[arg(long, default_value_t = local::TEST_VISIBILITY_SECS, value_parser = clap::value_parser!(u32).range(1..=43_200))]
        visibility_secs: u32,
    },
    /// Create or update the desk's Cognito user pool in the emulator from the users file (the
    /// pool `{prefix}-desk`, its app client, the groups agents, supervisors and admins, the
    /// users with their passwords and groups); print the desk API's DESK_* variables. Running
    /// it again with the same file changes nothing.
    DeskSetup {
        /// Emulator endpoint, e.g. http://127.0.0.1:5000.
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: String,
        /// Resource name prefix.
        #[arg(long, default_value = "gateway")]
        prefix: String,
        /// The desk users file (JSON).
        #[arg(long, env = "GATEWAY_DESK_USERS_FILE", default_value = gatewayctl::desk::DEFAULT_USERS_FILE)]
        users: std::path::PathBuf,
        /// The table to store the users' desk profiles in (`local setup`'s TABLE_NAME); a
        /// profile already as the file says is left alone.
        #[arg(long, env = "TABLE_NAME")]
        table: Option<String>,
    },
    /// Deliver the inbound queue to the router like the Lambda event source mapping.
    Pump {
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: String,
        /// Inbound queue URL.
        #[arg(long, env = "QUEUE_URL")]
        queue_url: String,
        /// Router invoke URL (cargo lambda watch).
        #[arg(long)]
        invoke_url: String,
    },
    /// Run the queues' event sources continuously until Ctrl-C, as Lambda does: each queue
    /// long-polled, batches of up to ten handed to its function, partial failures left to the
    /// visibility timeout. `make up` runs it with the stack.
    EventSources {
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: String,
        /// A queue and its function: `NAME=QUEUE_URL=INVOKE_URL` (repeat for each queue).
        #[arg(long = "map")]
        mappings: Vec<String>,
        /// A table's stream and its function: `NAME=TABLE=INVOKE_URL` (repeat for each).
        #[arg(long = "stream")]
        streams: Vec<String>,
        /// A schedule: `NAME=SECONDS=INVOKE_URL` invokes the function with an EventBridge
        /// scheduled event every SECONDS (repeat for each).
        #[arg(long = "schedule")]
        schedules: Vec<String>,
    },
    /// Print what is stored: conversations and their messages.
    Show {
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: String,
        #[arg(long, env = "TABLE_NAME")]
        table: String,
        /// Every item as a raw JSON line instead of the summary.
        #[arg(long)]
        raw: bool,
    },
}

pub(crate) async fn run_local(cmd: LocalCommand) -> Result<()> {
    match cmd {
        LocalCommand::Setup {
            endpoint,
            prefix,
            accounts,
            visibility_secs,
        } => {
            let document = std::fs::read_to_string(&accounts)
                .usage(|| format!("read {}", accounts.display()))?;
            let sdk = local::emulator_config(&endpoint).await;
            let stack = local::setup(&sdk, &prefix, &document, visibility_secs).await?;
            print!("{}", stack.env_lines());
        }
        LocalCommand::DeskSetup {
            endpoint,
            prefix,
            users,
            table,
        } => {
            let users = gatewayctl::desk::DeskUsers::read(&users)
                .usage(|| "the desk users file".to_string())?;
            let sdk = local::emulator_config(&endpoint).await;
            let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
            let (pool, report) =
                gatewayctl::desk::setup_pool(&cognito, &prefix, &users, Some(&endpoint)).await?;
            let mut changes = report.changes;
            if let Some(table) = table {
                let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
                let now_ms = chrono::Utc::now().timestamp_millis();
                let seeded =
                    gatewayctl::desk::seed_agent_profiles(&dynamodb, &table, &users, now_ms)
                        .await?;
                changes.extend(seeded.into_iter().map(|c| format!("{c} in {table}")));
            }
            // The variables go to stdout (the stack sources them); what changed to stderr.
            for change in &changes {
                eprintln!("desk: {change}");
            }
            if changes.is_empty() {
                eprintln!(
                    "desk: nothing changed: the user pool and profiles are as the users file says"
                );
            }
            print!("{}", pool.env_lines());
        }
        LocalCommand::Pump {
            endpoint,
            queue_url,
            invoke_url,
        } => {
            let sdk = local::emulator_config(&endpoint).await;
            let sqs = aws_sdk_sqs::Client::new(&sdk);
            let stats =
                local::pump(&sqs, &gatewayctl::http_client(), &queue_url, &invoke_url).await?;
            println!(
                "delivered {} record(s) in {} batch(es), {} failed",
                stats.delivered, stats.batches, stats.failed
            );
        }
        LocalCommand::EventSources {
            endpoint,
            mappings,
            streams,
            schedules,
        } => {
            let mappings = mappings
                .iter()
                .map(|m| gatewayctl::event_sources::Mapping::parse(m))
                .collect::<anyhow::Result<Vec<_>>>()
                .usage(|| "--map".to_string())?;
            let streams = streams
                .iter()
                .map(|m| gatewayctl::stream_source::StreamMapping::parse(m))
                .collect::<anyhow::Result<Vec<_>>>()
                .usage(|| "--stream".to_string())?;
            let schedules = schedules
                .iter()
                .map(|m| gatewayctl::event_sources::Schedule::parse(m))
                .collect::<anyhow::Result<Vec<_>>>()
                .usage(|| "--schedule".to_string())?;
            if mappings.is_empty() && streams.is_empty() && schedules.is_empty() {
                return Err(anyhow::anyhow!(
                    "give at least one --map, --stream or --schedule"
                ))
                .usage(|| "event-sources".to_string());
            }
            let sdk = local::emulator_config(&endpoint).await;
            for m in &mappings {
                println!("{}: {} -> {}", m.name, m.queue_url, m.invoke_url);
            }
            for m in &streams {
                println!("{}: stream of {} -> {}", m.name, m.table, m.invoke_url);
            }
            for m in &schedules {
                println!("{}: every {} s -> {}", m.name, m.every_secs, m.invoke_url);
            }
            println!("event sources running; Ctrl-C stops them");
            let http = gatewayctl::http_client();
            gatewayctl::event_sources::run(
                &sdk, &endpoint, &http, mappings, streams, schedules, None,
            )
            .await?;
        }
        LocalCommand::Show {
            endpoint,
            table,
            raw,
        } => {
            let sdk = local::emulator_config(&endpoint).await;
            let ddb = aws_sdk_dynamodb::Client::new(&sdk);
            let items = local::scan_items(&ddb, &table).await?;
            if raw {
                for item in items {
                    println!("{item}");
                }
            } else {
                print!("{}", local::summarize(&items));
            }
        }
    }
    Ok(())
}
