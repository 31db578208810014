//! `gatewayctl customer …`: a customer's data request (export, erasure), over
//! [`gatewayctl::customer`].

use crate::UsageContext;
use anyhow::Result;
use clap::Subcommand;
use gatewayctl::customer::{self, Customer, Stores};
use gatewayctl::local;
use gatewayctl::report::ChannelArg;

/// The customer and where their data is kept.
#[derive(Debug, clap::Args)]
pub(crate) struct CustomerArgs {
    /// The channel.
    #[arg(long, value_enum)]
    channel: ChannelArg,
    /// The account (its name in the webhook path).
    #[arg(long)]
    account: String,
    /// The customer's platform id: the WeChat OpenID or the Weibo UID.
    #[arg(long)]
    id: String,
    /// The conversations table.
    #[arg(long, env = "TABLE_NAME")]
    table: String,
    /// The media bucket.
    #[arg(long, env = "MEDIA_BUCKET")]
    bucket: String,
    /// Endpoint override (local emulator); default: the AWS SDK's usual resolution.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum CustomerCommand {
    /// Write everything kept about a customer (conversation, messages, replies, notes, audit
    /// trail, profile, delivery records, media files) into a new directory: `customer.json`
    /// and `media/…`.
    Export {
        #[command(flatten)]
        customer: CustomerArgs,
        /// The directory to write (new, or empty).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Delete everything kept about a customer, then check that nothing is left. Without
    /// --yes, only says what would be deleted.
    Erase {
        #[command(flatten)]
        customer: CustomerArgs,
        /// Delete (without it, nothing is deleted).
        #[arg(long)]
        yes: bool,
    },
}

async fn open(args: &CustomerArgs) -> Result<(Stores, Customer)> {
    if args.id.trim().is_empty() || args.account.trim().is_empty() {
        return Err(anyhow::anyhow!("--account and --id must not be empty"))
            .usage(|| "the customer".to_string());
    }
    let sdk = local::ops_config(args.endpoint.as_deref()).await;
    let stores = Stores {
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
        table: args.table.clone(),
        s3: gateway_aws::s3::client(&sdk),
        bucket: args.bucket.clone(),
    };
    let customer = Customer {
        channel: args.channel.into(),
        account: args.account.clone(),
        id: args.id.clone(),
    };
    Ok((stores, customer))
}

pub(crate) async fn run_customer(cmd: CustomerCommand) -> Result<()> {
    match cmd {
        CustomerCommand::Export { customer, out } => {
            let (stores, customer) = open(&customer).await?;
            let exported = customer::export(&stores, &customer, &out).await?;
            println!(
                "exported {} item(s) and {} media file(s) of {} to {}",
                exported.items,
                exported.files,
                customer.conversation_key(),
                exported.document.display()
            );
            Ok(())
        }
        CustomerCommand::Erase { customer, yes } => {
            let (stores, customer) = open(&customer).await?;
            if !yes {
                let found = customer::find(&stores, &customer).await?;
                println!(
                    "would delete {} of {}; nothing deleted (pass --yes to delete)",
                    found.describe(),
                    customer.conversation_key()
                );
                return Ok(());
            }
            let erased = customer::erase(&stores, &customer).await?;
            if erased.items == 0 && erased.objects == 0 {
                println!(
                    "nothing is kept about {}: nothing to erase",
                    customer.conversation_key()
                );
                return Ok(());
            }
            println!(
                "erased {} item(s) and {} media object(s) of {}; nothing of them is left",
                erased.items,
                erased.objects,
                customer.conversation_key()
            );
            Ok(())
        }
    }
}
