//! `gatewayctl`: the operator's and developer's command line. Parsing and printing only; the
//! work is in the library.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use gatewayctl::local;

#[derive(Parser)]
#[command(name = "gatewayctl", version, about = "Channel gateway operations and local development")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The local stack (AWS emulator + functions under cargo lambda watch).
    #[command(subcommand)]
    Local(LocalCommand),
}

#[derive(Subcommand)]
enum LocalCommand {
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
    /// Print every stored item of the table as JSON lines.
    Show {
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: String,
        #[arg(long, env = "TABLE_NAME")]
        table: String,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Local(cmd) => run_local(cmd).await,
    }
}

async fn run_local(cmd: LocalCommand) -> Result<()> {
    match cmd {
        LocalCommand::Setup {
            endpoint,
            prefix,
            accounts,
        } => {
            let document = std::fs::read_to_string(&accounts)
                .with_context(|| format!("read {}", accounts.display()))?;
            let sdk = local::emulator_config(&endpoint).await;
            let stack = local::setup(&sdk, &prefix, &document).await?;
            print!("{}", stack.env_lines());
        }
        LocalCommand::Pump {
            endpoint,
            queue_url,
            invoke_url,
        } => {
            let sdk = local::emulator_config(&endpoint).await;
            let sqs = aws_sdk_sqs::Client::new(&sdk);
            let stats = local::pump(&sqs, &reqwest::Client::new(), &queue_url, &invoke_url).await?;
            println!(
                "delivered {} record(s) in {} batch(es), {} failed",
                stats.delivered, stats.batches, stats.failed
            );
        }
        LocalCommand::Show { endpoint, table } => {
            let sdk = local::emulator_config(&endpoint).await;
            let ddb = aws_sdk_dynamodb::Client::new(&sdk);
            for item in local::scan_items(&ddb, &table).await? {
                println!("{item}");
            }
        }
    }
    Ok(())
}
