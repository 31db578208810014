//! `gatewayctl desk …`: signing in to the desk's user pool, and agent profiles in the table.

use crate::{UsageContext, UsageError};
use anyhow::{Context, Result};
use clap::Subcommand;
use gateway_aws::{DynamoDbConversationStore, DynamoDbDesk};
use gateway_core::desk::AgentProfile;
use gateway_core::desk::ports::{DeskStore, ProfileWrite};
use gateway_core::media::{MediaKind, MediaState};
use gatewayctl::desk::{Seed, SeedTarget, content_type_of, seed_media};
use gatewayctl::local;

#[derive(Subcommand)]
pub(crate) enum DeskCommand {
    /// Sign in to the desk's user pool (InitiateAuth, USER_PASSWORD_AUTH) and print the
    /// access token, for `Authorization: Bearer …`. Against the local stack by default; with
    /// AWS_ENDPOINT_URL unset, against Cognito in AWS_REGION (the app client must allow
    /// USER_PASSWORD_AUTH).
    Login {
        /// The username.
        #[arg(long)]
        user: String,
        /// The password; default: the user's in the users file.
        #[arg(long)]
        password: Option<String>,
        /// The desk users file, where the password is looked up.
        #[arg(long, env = "GATEWAY_DESK_USERS_FILE", default_value = gatewayctl::desk::DEFAULT_USERS_FILE)]
        users: std::path::PathBuf,
        /// The desk's app client (the stack's DESK_CLIENT_ID).
        #[arg(long, env = "DESK_CLIENT_ID")]
        client_id: String,
        /// Print the ID token instead (the desk API refuses it: for other uses only).
        #[arg(long)]
        id_token: bool,
        /// Endpoint override (local emulator); default: the AWS SDK's usual resolution.
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: Option<String>,
    },
    /// Agent profiles in the table (the desk's `PUT /agents/{id}` and `GET /agents` without
    /// the API: for operators with the table's credentials).
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// Put a media record on the latest inbound message of a conversation, as the
    /// media-fetcher records one (for trying the desk without it): with --file, the file goes
    /// to the media bucket under the fetcher's key and is recorded `stored`; with --state, that
    /// record (JSON, e.g. `{"state":"too_large","bytes":12582912,"limit":10485760}`) as is.
    /// Prints the record.
    SeedMedia {
        /// The conversation key (`wechat:demo:oUser`).
        #[arg(long)]
        conversation: String,
        /// image, voice, video or thumb.
        #[arg(long, default_value = "image")]
        kind: String,
        /// The object to store.
        #[arg(long, conflicts_with = "state", required_unless_present = "state")]
        file: Option<std::path::PathBuf>,
        /// Its Content-Type; default: by the file's extension.
        #[arg(long)]
        content_type: Option<String>,
        /// A record state instead (JSON: pending, too_large, unavailable).
        #[arg(long)]
        state: Option<String>,
        /// The table (the stack's TABLE_NAME).
        #[arg(long, env = "TABLE_NAME")]
        table: String,
        /// The media bucket (the stack's MEDIA_BUCKET).
        #[arg(long, env = "MEDIA_BUCKET")]
        bucket: String,
        /// Endpoint override (local emulator).
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: Option<String>,
    },
    /// Queue a customer's public comment under one of the account's Weibo posts on the inbound
    /// queue, as `weibo-poller` queues what it reads (for trying public replies at the desk
    /// without the poller). Prints the message's dedupe id.
    SeedComment {
        /// The Weibo account.
        #[arg(long, default_value = "brand")]
        account: String,
        /// The commenter's UID.
        #[arg(long)]
        from: String,
        /// The comment's id (digits).
        #[arg(long)]
        comment_id: String,
        /// The post's id (digits).
        #[arg(long)]
        post_id: String,
        /// The post's text (its excerpt is kept).
        #[arg(long, default_value = "")]
        post_text: String,
        /// The comment's text.
        #[arg(long)]
        text: String,
        /// The inbound queue (the stack's QUEUE_URL).
        #[arg(long, env = "QUEUE_URL")]
        queue: String,
        /// Endpoint override (local emulator).
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: Option<String>,
    },
    /// Queue a WeChat follower's text message on the inbound queue as received
    /// `--hours-ago` hours ago (for trying the desk once the 48-hour reply window has closed:
    /// a template message is then the follow-up it offers). Prints the message's dedupe id.
    SeedLate {
        /// The WeChat account.
        #[arg(long, default_value = "demo")]
        account: String,
        /// The follower's OpenID.
        #[arg(long)]
        from: String,
        /// The text.
        #[arg(long)]
        text: String,
        /// How long ago it was received.
        #[arg(long, default_value_t = 49)]
        hours_ago: i64,
        /// The inbound queue (the stack's QUEUE_URL).
        #[arg(long, env = "QUEUE_URL")]
        queue: String,
        /// Endpoint override (local emulator).
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: Option<String>,
    },
}

/// Queues a WeChat text message from `from` received `hours_ago` hours ago, as the webhook
/// would have queued it then; prints its dedupe id.
async fn seed_late(
    (account, from, text, hours_ago): (String, String, String, i64),
    queue: &str,
    endpoint: Option<&str>,
) -> Result<()> {
    use gateway_core::ports::MessagePublisher;
    let at_secs = gatewayctl::send::now_secs() - hours_ago.max(0) * 3600;
    let msg_id = format!("{at_secs}{}", std::process::id());
    use gateway_core::message::{Channel, Content, NormalizedMessage, RawFormat, RawPayload};
    let message = NormalizedMessage {
        schema_version: gateway_core::message::SCHEMA_VERSION,
        channel: Channel::WeChat,
        conversation_key: NormalizedMessage::conversation_key_for(Channel::WeChat, &account, &from),
        recipient_id: gatewayctl::send::WECHAT_ACCOUNT_ORIGINAL_ID.to_string(),
        account_id: account,
        sender_id: from,
        platform_message_id: Some(msg_id.clone()),
        dedupe_key: format!("msg:{msg_id}"),
        content: Content::Text { text },
        platform_time: at_secs,
        received_at_ms: at_secs * 1000,
        raw: RawPayload {
            format: RawFormat::Xml,
            body: String::new(),
        },
    };
    let sdk = local::ops_config(endpoint).await;
    gateway_aws::SqsMessagePublisher::new(aws_sdk_sqs::Client::new(&sdk), queue)
        .publish(&message)
        .await
        .context("queue the message")?;
    println!("{}", message.dedupe_id());
    Ok(())
}

/// A customer's public comment, for `gatewayctl desk seed-comment`.
struct CommentSeed {
    account: String,
    from: String,
    comment_id: String,
    post_id: String,
    post_text: String,
    text: String,
}

/// Queues `seed` on the inbound queue as `weibo-poller` normalizes a comment of
/// `comments/to_me` (kind `comment`, with its post); prints its dedupe id.
async fn seed_comment(seed: CommentSeed, queue: &str, endpoint: Option<&str>) -> Result<()> {
    use gateway_core::message::{
        Channel, Content, NormalizedMessage, PostRef, RawFormat, RawPayload,
    };
    use gateway_core::ports::MessagePublisher;
    let now = gatewayctl::send::now_secs();
    let raw = serde_json::json!({
        "idstr": seed.comment_id, "text": seed.text, "user": {"idstr": seed.from},
        "status": {"idstr": seed.post_id, "text": seed.post_text},
    });
    let message = NormalizedMessage {
        schema_version: gateway_core::message::SCHEMA_VERSION,
        channel: Channel::Weibo,
        account_id: seed.account.clone(),
        sender_id: seed.from.clone(),
        recipient_id: seed.account.clone(),
        conversation_key: NormalizedMessage::conversation_key_for(
            Channel::Weibo,
            &seed.account,
            &seed.from,
        ),
        platform_message_id: Some(seed.comment_id.clone()),
        dedupe_key: format!("comment:{}", seed.comment_id),
        content: Content::Comment {
            comment_id: seed.comment_id,
            text: seed.text,
            post: PostRef::new(seed.post_id, &seed.post_text, None),
            reply_to_comment_id: None,
        },
        platform_time: now,
        received_at_ms: now * 1000,
        raw: RawPayload {
            format: RawFormat::Json,
            body: raw.to_string(),
        },
    };
    let sdk = local::ops_config(endpoint).await;
    gateway_aws::SqsMessagePublisher::new(aws_sdk_sqs::Client::new(&sdk), queue)
        .publish(&message)
        .await
        .context("queue the comment")?;
    println!("{}", message.dedupe_id());
    Ok(())
}

#[derive(Subcommand)]
pub(crate) enum AgentsCommand {
    /// Print every profile as JSON lines.
    List {
        /// The table (the stack's TABLE_NAME).
        #[arg(long, env = "TABLE_NAME")]
        table: String,
        /// Endpoint override (local emulator).
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: Option<String>,
    },
    /// Create or replace a profile (checked as the desk API checks it; the stored version
    /// moves on by one).
    Put {
        /// The agent id: their sign-in user name.
        agent_id: String,
        /// The name the desk shows.
        #[arg(long)]
        display_name: String,
        /// Teams, comma-separated.
        #[arg(long, value_delimiter = ',')]
        teams: Vec<String>,
        /// Accounts (`wechat:demo`, `weibo:brand`, or `*`), comma-separated.
        #[arg(long, value_delimiter = ',')]
        accounts: Vec<String>,
        /// Conversations held at once.
        #[arg(long, default_value_t = 5)]
        capacity: u32,
        /// The table (the stack's TABLE_NAME).
        #[arg(long, env = "TABLE_NAME")]
        table: String,
        /// Endpoint override (local emulator).
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: Option<String>,
    },
    /// Delete a profile (exit 1 when there is none).
    Delete {
        /// The agent id.
        agent_id: String,
        /// The table (the stack's TABLE_NAME).
        #[arg(long, env = "TABLE_NAME")]
        table: String,
        /// Endpoint override (local emulator).
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: Option<String>,
    },
}

pub(crate) async fn run_desk(cmd: DeskCommand) -> Result<()> {
    let (user, password, users, client_id, id_token, endpoint) = match cmd {
        DeskCommand::Agents(cmd) => return run_agents(cmd).await,
        DeskCommand::SeedComment {
            account,
            from,
            comment_id,
            post_id,
            post_text,
            text,
            queue,
            endpoint,
        } => {
            let seed = CommentSeed {
                account,
                from,
                comment_id,
                post_id,
                post_text,
                text,
            };
            return seed_comment(seed, &queue, endpoint.as_deref()).await;
        }
        DeskCommand::SeedLate {
            account,
            from,
            text,
            hours_ago,
            queue,
            endpoint,
        } => {
            let seed = (account, from, text, hours_ago);
            return seed_late(seed, &queue, endpoint.as_deref()).await;
        }
        DeskCommand::SeedMedia {
            conversation,
            kind,
            file,
            content_type,
            state,
            table,
            bucket,
            endpoint,
        } => {
            let kind: MediaKind = serde_json::from_value(serde_json::Value::String(kind.clone()))
                .map_err(|_| {
                UsageError(format!("--kind {kind}: image, voice, video or thumb"))
            })?;
            let seed = match (file, state) {
                (Some(file), _) => Seed::Stored {
                    body: std::fs::read(&file).usage(|| file.display().to_string())?,
                    content_type: content_type
                        .unwrap_or_else(|| content_type_of(&file).to_string()),
                },
                (None, Some(state)) => Seed::State(
                    serde_json::from_str::<MediaState>(&state)
                        .usage(|| format!("--state {state}"))?,
                ),
                (None, None) => return Err(UsageError("--file or --state".into()).into()),
            };
            let sdk = local::ops_config(endpoint.as_deref()).await;
            let ddb = aws_sdk_dynamodb::Client::new(&sdk);
            let s3 = gateway_aws::s3::client(&sdk);
            let target = SeedTarget {
                table: &table,
                bucket: &bucket,
                conversation_key: &conversation,
                kind,
            };
            let now = gatewayctl::send::now_secs() * 1000;
            let record = seed_media(&ddb, &s3, &target, seed, now).await?;
            println!("{}", serde_json::to_string(&record)?);
            return Ok(());
        }
        DeskCommand::Login {
            user,
            password,
            users,
            client_id,
            id_token,
            endpoint,
        } => (user, password, users, client_id, id_token, endpoint),
    };
    let password = match password {
        Some(p) => p,
        None => gatewayctl::desk::DeskUsers::read(&users)
            .usage(|| "no --password, and the users file".to_string())?
            .user(&user)
            .map(|u| u.password.expose().to_string())
            .ok_or_else(|| {
                UsageError(format!(
                    "{user} is not in {}: give --password",
                    users.display()
                ))
            })?,
    };
    let sdk = local::ops_config(endpoint.as_deref()).await;
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
    let tokens = gatewayctl::desk::login(&cognito, &client_id, &user, &password)
        .await
        .with_context(|| format!("sign in as {user}"))?;
    println!(
        "{}",
        if id_token {
            tokens.id_token
        } else {
            tokens.access_token
        }
    );
    Ok(())
}

async fn desk_store(table: &str, endpoint: Option<&str>) -> DynamoDbDesk {
    let sdk = local::ops_config(endpoint).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    DynamoDbDesk::new(DynamoDbConversationStore::new(client, table, None))
}

async fn run_agents(cmd: AgentsCommand) -> Result<()> {
    match cmd {
        AgentsCommand::List { table, endpoint } => {
            let desk = desk_store(&table, endpoint.as_deref()).await;
            for profile in desk.agents().await.context("read the agent profiles")? {
                println!("{}", serde_json::to_string(&profile)?);
            }
            Ok(())
        }
        AgentsCommand::Put {
            agent_id,
            display_name,
            teams,
            accounts,
            capacity,
            table,
            endpoint,
        } => {
            let desk = desk_store(&table, endpoint.as_deref()).await;
            let stored = desk.agent(&agent_id).await.context("read the profile")?;
            let profile = AgentProfile {
                agent_id: agent_id.clone(),
                display_name,
                teams: teams.into_iter().filter(|t| !t.is_empty()).collect(),
                accounts: accounts.into_iter().filter(|a| !a.is_empty()).collect(),
                capacity,
                updated_at: gatewayctl::send::now_secs() as i64 * 1000,
                updated_by: Some("gatewayctl".into()),
                version: stored.map_or(1, |p| p.version + 1),
            };
            if let Err((field, reason)) = profile.validate() {
                return Err(anyhow::Error::msg(format!("{field}: {reason}"))
                    .context(UsageError(format!("the profile of {agent_id} is invalid"))));
            }
            match desk
                .put_agent(&profile)
                .await
                .context("write the profile")?
            {
                ProfileWrite::Stored => {
                    println!("{}", serde_json::to_string(&profile)?);
                    Ok(())
                }
                ProfileWrite::Stale => {
                    anyhow::bail!("the profile of {agent_id} changed meanwhile: run it again")
                }
            }
        }
        AgentsCommand::Delete {
            agent_id,
            table,
            endpoint,
        } => {
            let desk = desk_store(&table, endpoint.as_deref()).await;
            if desk
                .delete_agent(&agent_id)
                .await
                .context("delete the profile")?
            {
                Ok(())
            } else {
                anyhow::bail!("no profile of {agent_id}")
            }
        }
    }
}
