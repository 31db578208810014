//! `gatewayctl accounts …`: check an accounts document as the functions do, and push each
//! role's part of it to its secret.

use crate::UsageContext;
use anyhow::{Context, Result};
use clap::Subcommand;
use gateway_core::account::{AccountsDocument, AccountsRole};
use gatewayctl::local;

#[derive(Subcommand)]
pub(crate) enum AccountsCommand {
    /// Validate an accounts document exactly as the functions do; exit 1 with the reason
    /// (never a secret value) if invalid. Run it before putting a new secret.
    Check {
        /// The accounts document (JSON).
        file: std::path::PathBuf,
    },
    /// Validate, then write each role's part of the document to its secret: the webhooks'
    /// (verification keys), the reply sender's (API credentials), the reply API's (API
    /// clients) and the webhook sender's (API clients' webhook targets). Nothing is written if
    /// the document is invalid.
    Push {
        /// The accounts document (JSON).
        file: std::path::PathBuf,
        /// The webhooks' secret (the stack output `WebhookCredentialsSecret`).
        #[arg(long)]
        webhook_secret: String,
        /// The reply sender's secret (`DeliveryCredentialsSecret`).
        #[arg(long)]
        delivery_secret: String,
        /// The reply API's secret (`ApiClientsSecret`).
        #[arg(long)]
        api_secret: String,
        /// The webhook sender's secret (`WebhookTargetsSecret`).
        #[arg(long)]
        webhook_targets_secret: String,
        /// Endpoint override (local emulator); default: the AWS SDK's usual resolution.
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: Option<String>,
    },
}

pub(crate) async fn run_accounts(cmd: AccountsCommand) -> Result<()> {
    let (file, push) = match cmd {
        AccountsCommand::Check { file } => (file, None),
        AccountsCommand::Push {
            file,
            webhook_secret,
            delivery_secret,
            api_secret,
            webhook_targets_secret,
            endpoint,
        } => (
            file,
            Some((
                [
                    (AccountsRole::Webhook, webhook_secret),
                    (AccountsRole::Delivery, delivery_secret),
                    (AccountsRole::ApiClients, api_secret),
                    (AccountsRole::WebhookTargets, webhook_targets_secret),
                ],
                endpoint,
            )),
        ),
    };
    let text = std::fs::read_to_string(&file).usage(|| format!("read {}", file.display()))?;
    let doc = match AccountsDocument::from_json(&text) {
        Ok(doc) => doc,
        Err(e) => {
            eprintln!("{}: invalid, nothing written\n{e}", file.display());
            std::process::exit(1);
        }
    };
    println!(
        "{}: valid ({} WeChat, {} Weibo account(s), {} API client(s))",
        file.display(),
        doc.wechat.len(),
        doc.weibo.len(),
        doc.api_clients.len()
    );
    let Some((secrets, endpoint)) = push else {
        return Ok(());
    };
    let sdk = local::ops_config(endpoint.as_deref()).await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    for (role, secret) in secrets {
        let part = serde_json::to_string(&doc.project(role))?;
        sm.put_secret_value()
            .secret_id(&secret)
            .secret_string(part)
            .send()
            .await
            .with_context(|| format!("put the {} part in {secret}", role.as_str()))?;
        println!("{} part -> {secret}", role.as_str());
    }
    Ok(())
}
