//! `gatehouse clients ...`: the operator's client for a running server's `/v1/clients` API.
//! Human-readable output by default; `--json` prints the server's response body as it came.
//! The connection, credentials, exit statuses and text output here serve `gatehouse projects`
//! too.

use clap::builder::NonEmptyStringValueParser;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Subcommand, ValueEnum};
// The server's largest page (file 001): `--all` takes as few requests as it can.
use gatehouse_edge::paging::MAX_PAGE_SIZE;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::Failure;
use crate::admin_client::{
    AdminClient, AdminError, ClientPatch, ClientView, Credentials, NewClient, RateLimit, Rotation, ScopesBody,
    SecretView,
};

/// Exit statuses, so a script can tell "the server said no" from "no server".
pub mod exit {
    /// The server refused the request (4xx): bad input, no permission, no such client.
    pub const REFUSED: u8 = 1;
    /// The command line was wrong (clap uses the same status).
    pub const USAGE: u8 = 2;
    /// The server could not be reached.
    pub const UNREACHABLE: u8 = 3;
    /// The server failed (5xx) or answered something that is not its API.
    pub const SERVER_FAILED: u8 = 4;
}

#[derive(Args)]
pub struct ClientsArgs {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(subcommand)]
    command: ClientsCommand,
}

#[derive(Args)]
#[command(next_help_heading = "Server, credentials and output")]
pub(super) struct ConnectionArgs {
    /// Base URL of the running server.
    #[arg(long, env = "GATEHOUSE_URL", default_value = "http://127.0.0.1:8080", global = true)]
    pub(super) url: String,
    /// An access token or a `gss_` session token from `POST /v1/auth/login`, sent as a bearer
    /// token.
    #[arg(long, env = "GATEHOUSE_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// Client id to get an access token with (with --client-secret), instead of --token.
    #[arg(long, env = "GATEHOUSE_CLIENT_ID", global = true, allow_hyphen_values = true)]
    client_id: Option<String>,
    /// Client secret for --client-id. Prefer the environment variable: arguments are visible to
    /// other users of the machine.
    #[arg(long, env = "GATEHOUSE_CLIENT_SECRET", hide_env_values = true, global = true)]
    client_secret: Option<String>,
    /// Allow a plain http:// --url to a host other than this machine. The client secret and
    /// tokens then cross the network in cleartext; without this, http:// is only for loopback.
    #[arg(long, env = "GATEHOUSE_ALLOW_INSECURE_HTTP", global = true)]
    pub(super) allow_insecure_http: bool,
    /// Print the server's JSON response body instead of text.
    #[arg(long, global = true)]
    pub(super) json: bool,
}

#[derive(Subcommand)]
enum ClientsCommand {
    /// List clients, oldest first, one page at a time (or every page with --all).
    List(ListArgs),
    /// Create a client and print its secret, which is shown only this once.
    Create(CreateArgs),
    /// Show one client.
    Get(ClientIdArg),
    /// Change some fields of a client; the others stay as they are.
    Update(UpdateArgs),
    /// Delete a client: its credentials and tokens are refused at once. Cannot be undone.
    Delete(ClientIdArg),
    /// Give a client a new secret: the old one and every earlier token are refused at once.
    RenewKey(ClientIdArg),
    /// List a client's secrets (never their values) with their expiry and last use.
    Secrets(ClientIdArg),
    /// Give a client a new secret while the current one goes on working for a grace period.
    RotateSecret(RotateArgs),
    /// End one of a client's secrets now (not its last live one: renew the key instead).
    DeleteSecret(DeleteSecretArgs),
    /// Make another user of the account the client's owner.
    Transfer(TransferArgs),
}

#[derive(Args)]
struct ClientIdArg {
    /// The client's id. Ids are random base64url, so one may begin with `-`.
    #[arg(value_name = "CLIENT_ID", allow_hyphen_values = true, value_parser = NonEmptyStringValueParser::new())]
    id: String,
}

#[derive(Args)]
struct ListArgs {
    /// Clients per page, 1 to 500.
    #[arg(long, default_value_t = 100, conflicts_with = "all")]
    page_size: u32,
    /// Page to show, from 1.
    #[arg(long, default_value_t = 1, conflicts_with = "all")]
    page_number: u32,
    /// Only clients of this type.
    #[arg(long, value_enum)]
    client_type: Option<ClientTypeArg>,
    /// Only the clients of this project.
    #[arg(long, value_name = "PROJECT_ID", value_parser = NonEmptyStringValueParser::new())]
    project: Option<String>,
    /// Every client, following the pages; with --json one document shaped like a single page.
    #[arg(long)]
    all: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum ClientTypeArg {
    Admin,
    Standard,
}

impl ClientTypeArg {
    fn as_str(self) -> &'static str {
        match self {
            ClientTypeArg::Admin => "admin",
            ClientTypeArg::Standard => "standard",
        }
    }
}

/// The fields `create` and `update` share.
#[derive(Args)]
struct ClientFields {
    /// Free text, up to 1000 characters.
    #[arg(long)]
    description: Option<String>,
    /// A product from the account's catalogue; repeat for several (replaces the list on update).
    #[arg(long = "product", value_name = "PRODUCT")]
    products: Vec<String>,
    /// A global resource (api_clients, users, audit, introspection; admin clients only); repeat
    /// for several (replaces the list on update).
    #[arg(long = "global-resource", value_name = "RESOURCE")]
    global_resources: Vec<String>,
    /// `standard` or `admin`; only a user session may choose `admin`.
    #[arg(long, value_enum)]
    client_type: Option<ClientTypeArg>,
    /// Lifetime of the client's access tokens, 60 to 86400 seconds.
    #[arg(long, value_name = "SECONDS")]
    token_expiry_seconds: Option<i64>,
    /// An address or CIDR block the client may call from; repeat for several (replaces the list
    /// on update). None means any address.
    #[arg(long = "allowed-ip", value_name = "CIDR")]
    allowed_ips: Vec<String>,
    /// Requests per second and burst, enforced at the gateway check.
    #[arg(long, value_name = "RPS:BURST", value_parser = parse_rate_limit)]
    rate_limit: Option<RateLimit>,
    /// A project of the client's account (`gatehouse projects list`); among developers, only
    /// its members then see the client. On update, moves the client there.
    #[arg(long, value_name = "PROJECT_ID", value_parser = NonEmptyStringValueParser::new())]
    project: Option<String>,
}

#[derive(Args)]
struct CreateArgs {
    /// The client's name, 1 to 200 characters.
    #[arg(long)]
    name: String,
    #[command(flatten)]
    fields: ClientFields,
    /// Only the account owner, its admins and the client owner may then edit it.
    #[arg(long)]
    locked: bool,
    /// When the client's secret stops working (RFC 3339, for example 2027-06-30T00:00:00Z).
    #[arg(long, value_name = "WHEN")]
    secret_expires_at: Option<String>,
}

#[derive(Args)]
struct UpdateArgs {
    #[command(flatten)]
    client: ClientIdArg,
    /// A new name.
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    fields: ClientFields,
    /// Accept the client's credentials and tokens again.
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    /// Refuse the client's credentials and tokens until it is enabled again.
    #[arg(long)]
    disable: bool,
    /// Only the account owner, its admins and the client owner may then edit the client.
    #[arg(long, conflicts_with = "unlock")]
    lock: bool,
    /// Let anyone allowed to edit clients edit this one again.
    #[arg(long)]
    unlock: bool,
    /// Remove the rate limit.
    #[arg(long, conflicts_with = "rate_limit")]
    no_rate_limit: bool,
    /// Accept calls from any address (clears the allowed IPs).
    #[arg(long, conflicts_with = "allowed_ips")]
    any_ip: bool,
    /// Take the client out of its project: every developer of the account then sees it (owners
    /// and admins only).
    #[arg(long, conflicts_with = "project")]
    no_project: bool,
}

#[derive(Args)]
struct RotateArgs {
    #[command(flatten)]
    client: ClientIdArg,
    /// How long the current secret goes on working, 0 to 604800 seconds (default: a day).
    #[arg(long, value_name = "SECONDS")]
    grace_period: Option<i64>,
    /// When the new secret stops working (RFC 3339, for example 2027-06-30T00:00:00Z).
    #[arg(long, value_name = "WHEN")]
    expires_at: Option<String>,
}

#[derive(Args)]
struct DeleteSecretArgs {
    #[command(flatten)]
    client: ClientIdArg,
    /// The secret's id, as `clients secrets` lists it.
    #[arg(value_name = "SECRET_ID", allow_hyphen_values = true, value_parser = NonEmptyStringValueParser::new())]
    secret_id: String,
    /// Also end the tokens minted with this secret; without it they live to their expiry.
    #[arg(long)]
    revoke_tokens: bool,
}

#[derive(Args)]
struct TransferArgs {
    #[command(flatten)]
    client: ClientIdArg,
    /// Email of the new owner, a user of the client's account.
    #[arg(long, value_name = "EMAIL")]
    owner: String,
}

impl UpdateArgs {
    fn changes_nothing(&self) -> bool {
        let fields = &self.fields;
        self.name.is_none()
            && fields.description.is_none()
            && fields.products.is_empty()
            && fields.global_resources.is_empty()
            && fields.client_type.is_none()
            && fields.token_expiry_seconds.is_none()
            && fields.allowed_ips.is_empty()
            && fields.rate_limit.is_none()
            && fields.project.is_none()
            && ![self.enable, self.disable, self.lock, self.unlock, self.no_rate_limit, self.any_ip, self.no_project]
                .contains(&true)
    }
}

fn parse_rate_limit(text: &str) -> Result<RateLimit, String> {
    let (rps, burst) = text.split_once(':').ok_or("expected RPS:BURST, for example 10:20")?;
    let number = |part: &str| part.trim().parse::<u32>().map_err(|_| format!("{part:?} is not a whole number"));
    Ok(RateLimit { requests_per_second: number(rps)?, burst: number(burst)? })
}

impl From<AdminError> for Failure {
    fn from(error: AdminError) -> Self {
        let code = match &error {
            AdminError::Invalid(_) => exit::USAGE,
            AdminError::Unreachable { .. } => exit::UNREACHABLE,
            AdminError::Refused { .. } | AdminError::TokenRefused { .. } => exit::REFUSED,
            AdminError::ServerFailed { .. } | AdminError::Unexpected { .. } => exit::SERVER_FAILED,
        };
        Failure { message: error.to_string(), code }
    }
}

/// `matches` are the `clients` subcommand's, to tell flags from environment variables.
pub async fn run(args: ClientsArgs, matches: &ArgMatches) -> Result<(), Failure> {
    let credentials = given_credentials(&args.connection, matches)?;
    if let ClientsCommand::Update(update) = &args.command
        && update.changes_nothing()
    {
        return Err(Failure {
            message: "nothing to update: give at least one field to change".to_owned(),
            code: exit::USAGE,
        });
    }
    let client = AdminClient::connect(&args.connection.url, credentials, args.connection.allow_insecure_http).await?;
    let result = execute(&client, args.command, args.connection.json).await;
    client.finish().await;
    result
}

/// The credentials of `connection`; `matches` are its subcommand's (`clients`, `projects`), to
/// tell flags from environment variables.
pub(super) fn given_credentials(connection: &ConnectionArgs, matches: &ArgMatches) -> Result<Credentials, Failure> {
    // Global options given after the subcommand are recorded in the subcommand's matches.
    let leaf = matches.subcommand().map_or(matches, |(_, leaf)| leaf);
    let from_flag = |id: &str| leaf.value_source(id) == Some(ValueSource::CommandLine);
    credentials(connection, from_flag)
}

/// A token, or client credentials to mint one. When both are present, what was typed on the
/// command line beats what the environment holds (flags beat environment, as for `serve`).
fn credentials(connection: &ConnectionArgs, from_flag: impl Fn(&str) -> bool) -> Result<Credentials, Failure> {
    let usage = |message: &str| Failure { message: message.to_owned(), code: exit::USAGE };
    let client_given = connection.client_id.is_some() || connection.client_secret.is_some();
    let use_token = match (&connection.token, client_given) {
        (Some(_), false) => true,
        (None, _) => false,
        (Some(_), true) => match (from_flag("token"), from_flag("client_id") || from_flag("client_secret")) {
            (true, false) => true,
            (false, true) => false,
            _ => return Err(usage("give either --token or --client-id and --client-secret, not both")),
        },
    };
    if let (true, Some(token)) = (use_token, &connection.token) {
        return Ok(Credentials::Bearer(token.clone()));
    }
    match (&connection.client_id, &connection.client_secret) {
        (Some(client_id), Some(client_secret)) => {
            Ok(Credentials::Client { client_id: client_id.clone(), client_secret: client_secret.clone() })
        }
        (Some(_), None) => Err(usage("--client-id needs --client-secret (or GATEHOUSE_CLIENT_SECRET)")),
        (None, Some(_)) => Err(usage("--client-secret needs --client-id (or GATEHOUSE_CLIENT_ID)")),
        (None, None) => Err(usage(
            "no credentials: pass --token (or set GATEHOUSE_TOKEN), or --client-id and --client-secret \
             (or set GATEHOUSE_CLIENT_ID and GATEHOUSE_CLIENT_SECRET)",
        )),
    }
}

async fn execute(client: &AdminClient, command: ClientsCommand, json: bool) -> Result<(), Failure> {
    match command {
        ClientsCommand::List(args) if args.all => {
            list_all(client, args.client_type, args.project.as_deref(), json).await
        }
        ClientsCommand::List(args) => {
            let client_type = args.client_type.map(ClientTypeArg::as_str);
            let reply =
                client.list_clients(args.page_size, args.page_number, client_type, args.project.as_deref()).await?;
            if json {
                return emit(&reply.body);
            }
            let page = reply.value;
            let mut text = client_table(&page.clients);
            if page.meta.next_page_url.is_some() || page.meta.page_number > 1 {
                let pages = page.meta.count.div_ceil(u64::from(page.meta.page_size.max(1)));
                text.push_str(&format!("page {} of {pages}, {} clients", page.meta.page_number, page.meta.count));
                if page.meta.next_page_url.is_some() {
                    text.push_str(&format!("; next: --page-number {}", page.meta.page_number + 1));
                }
                text.push('\n');
            }
            emit(&text)
        }
        ClientsCommand::Create(args) => {
            // The created client's answer (file 001's) names no project; a 201 means it is in
            // the one asked for.
            let project_id = args.fields.project.clone();
            let new = NewClient {
                name: args.name,
                locked: args.locked,
                scopes: ScopesBody { global_resources: args.fields.global_resources, products: args.fields.products },
                description: args.fields.description,
                client_type: args.fields.client_type.map(|kind| kind.as_str().to_owned()),
                token_expiry_seconds: args.fields.token_expiry_seconds,
                allowed_ips: args.fields.allowed_ips,
                rate_limit: args.fields.rate_limit,
                secret_expires_at: args.secret_expires_at,
                project_id: args.fields.project,
            };
            let reply = client.create_client(&new).await?;
            if json {
                return emit(&reply.body);
            }
            let created = reply.value;
            let mut fields = vec![
                ("client_id", created.client_id),
                ("client_secret", created.client_secret),
                ("name", printable(&created.name)),
                ("client_type", created.client_type),
                ("client_owner", created.client_owner),
                ("account_id", created.account_id),
            ];
            if let Some(project_id) = project_id {
                fields.push(("project_id", project_id));
            }
            emit(&format!("{}The client secret is shown only this once: store it now.\n", aligned(&fields)))
        }
        ClientsCommand::Get(args) => {
            let reply = client.get_client(&args.id).await?;
            if json {
                return emit(&reply.body);
            }
            emit(&client_details(&reply.value.client))
        }
        ClientsCommand::Update(args) => update(client, args, json).await,
        ClientsCommand::Delete(args) => {
            client.delete_client(&args.id).await?;
            // 204 has no body, so `--json` prints nothing: the exit status is the answer.
            if json { Ok(()) } else { emit(&format!("client {} deleted\n", args.id)) }
        }
        ClientsCommand::RenewKey(args) => {
            let reply = client.renew_key(&args.id).await?;
            if json {
                return emit(&reply.body);
            }
            let renewed = reply.value;
            emit(&format!(
                "{}{}\nThe new client secret is shown only this once: store it now.\n",
                aligned(&[("client_id", renewed.client_id), ("client_secret", renewed.client_secret)]),
                printable(&renewed.message),
            ))
        }
        ClientsCommand::Secrets(args) => {
            let reply = client.client_secrets(&args.id).await?;
            if json {
                return emit(&reply.body);
            }
            emit(&secret_table(&reply.value.secrets))
        }
        ClientsCommand::RotateSecret(args) => {
            let rotation = Rotation { grace_period_seconds: args.grace_period, secret_expires_at: args.expires_at };
            let reply = client.rotate_secret(&args.client.id, &rotation).await?;
            if json {
                return emit(&reply.body);
            }
            let rotated = reply.value;
            let previous = rotated.previous_secret_expires_at.unwrap_or_else(|| "now (no grace period)".to_owned());
            emit(&format!(
                "{}{}\nThe new client secret is shown only this once: store it now.\n",
                aligned(&[
                    ("client_id", rotated.client_id),
                    ("client_secret", rotated.client_secret),
                    ("secret_id", rotated.secret_id),
                    ("previous_secret_ends", previous),
                ]),
                printable(&rotated.message),
            ))
        }
        ClientsCommand::DeleteSecret(args) => {
            client.delete_secret(&args.client.id, &args.secret_id, args.revoke_tokens).await?;
            if json {
                return Ok(());
            }
            let tokens = if args.revoke_tokens { "; its tokens too" } else { "; its tokens live to their expiry" };
            emit(&format!("secret {} of client {} ended{tokens}\n", args.secret_id, args.client.id))
        }
        ClientsCommand::Transfer(args) => {
            let reply = client.transfer_ownership(&args.client.id, &args.owner).await?;
            if json {
                return emit(&reply.body);
            }
            emit(&client_details(&reply.value.client))
        }
    }
}

async fn update(client: &AdminClient, args: UpdateArgs, json: bool) -> Result<(), Failure> {
    let fields = args.fields;
    let mut patch = ClientPatch {
        name: args.name,
        description: fields.description,
        locked: flag_pair(args.lock, args.unlock),
        enabled: flag_pair(args.enable, args.disable),
        client_type: fields.client_type.map(|kind| kind.as_str().to_owned()),
        scopes: None,
        token_expiry_seconds: fields.token_expiry_seconds,
        allowed_ips: if args.any_ip { Some(Vec::new()) } else { non_empty(fields.allowed_ips) },
        rate_limit: if args.no_rate_limit { Some(None) } else { fields.rate_limit.map(Some) },
        project_id: if args.no_project { Some(None) } else { fields.project.map(Some) },
    };
    // The API replaces `scopes` whole. Changing only products (or only global resources) must
    // keep the other half, so read it first and make the write conditional on that read.
    let mut if_match = None;
    match (non_empty(fields.products), non_empty(fields.global_resources)) {
        (None, None) => {}
        (Some(products), Some(global_resources)) => patch.scopes = Some(ScopesBody { global_resources, products }),
        (products, global_resources) => {
            let current = client.get_client(&args.client.id).await?;
            let scopes = current.value.client.scopes;
            patch.scopes = Some(ScopesBody {
                global_resources: global_resources.unwrap_or(scopes.global_resources),
                products: products.unwrap_or(scopes.products),
            });
            if_match = current.etag;
        }
    }
    let reply = client.update_client(&args.client.id, &patch, if_match.as_deref()).await?;
    if json {
        return emit(&reply.body);
    }
    emit(&client_details(&reply.value.client))
}

async fn list_all(
    client: &AdminClient,
    client_type: Option<ClientTypeArg>,
    project_id: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    /// The clients of one page as the server wrote them, so `--json` keeps their field order.
    #[derive(Deserialize)]
    struct RawPage {
        clients: Vec<Box<RawValue>>,
    }
    let client_type = client_type.map(ClientTypeArg::as_str);
    let mut views = Vec::new();
    let mut raw = Vec::new();
    for page_number in 1.. {
        let reply = client.list_clients(MAX_PAGE_SIZE, page_number, client_type, project_id).await?;
        let page = reply.value;
        let last = page.meta.next_page_url.is_none() || page.clients.len() < MAX_PAGE_SIZE as usize;
        if json {
            let RawPage { clients } = serde_json::from_str(&reply.body).map_err(|error| Failure {
                message: format!("unexpected list response: {error}"),
                code: exit::SERVER_FAILED,
            })?;
            raw.extend(clients);
        }
        views.extend(page.clients);
        if last {
            break;
        }
    }
    if !json {
        return emit(&format!("{}{} clients\n", client_table(&views), views.len()));
    }
    /// One page holding every client; serialized directly, as a `serde_json::Value` would
    /// reorder each client's fields.
    #[derive(Serialize)]
    struct AllPages<'a> {
        meta: AllMeta,
        clients: &'a [Box<RawValue>],
    }
    #[derive(Serialize)]
    struct AllMeta {
        count: usize,
        page_number: u32,
        page_size: usize,
        previous_page_url: Option<String>,
        next_page_url: Option<String>,
    }
    let meta = AllMeta {
        count: raw.len(),
        page_number: 1,
        page_size: raw.len(),
        previous_page_url: None,
        next_page_url: None,
    };
    let document = serde_json::to_string(&AllPages { meta, clients: &raw })
        .map_err(|error| Failure { message: format!("cannot write the list: {error}"), code: exit::SERVER_FAILED })?;
    emit(&document)
}

fn flag_pair(yes: bool, no: bool) -> Option<bool> {
    match (yes, no) {
        (true, _) => Some(true),
        (false, true) => Some(false),
        (false, false) => None,
    }
}

fn non_empty(values: Vec<String>) -> Option<Vec<String>> {
    (!values.is_empty()).then_some(values)
}

// ---------------------------------------------------------------------------------------------
// Text output

/// Writes to stdout; a closed pipe (`| head`) ends the command quietly instead of panicking.
pub(super) fn emit(text: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let mut text = text.to_owned();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure { message: format!("cannot write the output: {error}"), code: 1 })
        }
        _ => Ok(()),
    }
}

/// The server refuses control characters and bidi overrides in names, which could make a name
/// display as something it is not; replacing them here as well keeps a terminal safe from data
/// written by an older version.
pub(super) fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            let hostile = c.is_control()
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}');
            if hostile { '\u{FFFD}' } else { c }
        })
        .collect()
}

/// `key: value` lines with the values in one column.
pub(super) fn aligned(fields: &[(&str, String)]) -> String {
    let width = fields.iter().map(|(key, _)| key.len()).max().unwrap_or(0) + 1;
    fields.iter().map(|(key, value)| format!("{:<width$} {value}\n", format!("{key}:"))).collect()
}

pub(super) fn list_or(values: &[String], empty: &str) -> String {
    if values.is_empty() { empty.to_owned() } else { values.join(", ") }
}

fn client_details(client: &ClientView) -> String {
    aligned(&[
        ("client_id", client.client_id.clone()),
        ("name", printable(&client.name)),
        ("description", printable(&client.description)),
        ("account_id", client.account_id.clone()),
        ("project_id", client.project_id.clone().unwrap_or_else(|| "none".to_owned())),
        ("client_owner", printable(&client.client_owner)),
        ("client_type", client.client_type.clone()),
        ("enabled", client.enabled.to_string()),
        ("locked", client.locked.unwrap_or(false).to_string()),
        ("products", list_or(&client.scopes.products, "(none)")),
        ("global_resources", list_or(&client.scopes.global_resources, "(none)")),
        ("token_expiry_seconds", client.token_expiry_seconds.to_string()),
        ("allowed_ips", list_or(&client.allowed_ips, "any address")),
        (
            "rate_limit",
            client.rate_limit.map_or_else(
                || "none".to_owned(),
                |limit| format!("{} requests/s, burst {}", limit.requests_per_second, limit.burst),
            ),
        ),
        ("secret_expires_at", client.secret_expires_at.clone().unwrap_or_else(|| "never".to_owned())),
        ("date_created", client.date_created.clone()),
        ("date_updated", client.date_updated.clone()),
    ])
}

/// One line per secret, oldest first, as the server lists them.
fn secret_table(secrets: &[SecretView]) -> String {
    let header = ["SECRET_ID", "PREFIX", "STATE", "CREATED", "EXPIRES", "LAST_USED", "FROM"].map(str::to_owned);
    let rows = secrets.iter().map(|secret| {
        let state = match (secret.current, secret.expired, secret.expires_soon) {
            (_, true, _) => "expired",
            (true, _, true) => "current, expires soon",
            (true, _, false) => "current",
            (false, _, _) => "previous",
        };
        [
            secret.secret_id.clone(),
            secret.prefix.as_deref().map_or_else(|| "-".to_owned(), printable),
            state.to_owned(),
            secret.date_created.clone(),
            secret.expires_at.clone().unwrap_or_else(|| "never".to_owned()),
            secret.last_used_at.clone().unwrap_or_else(|| "never".to_owned()),
            secret.last_used_ip.clone().unwrap_or_else(|| "-".to_owned()),
        ]
    });
    table(header, rows)
}

/// One line per client, columns padded to their widest cell; the name last, as it varies most.
fn client_table(clients: &[ClientView]) -> String {
    if clients.is_empty() {
        return "no clients\n".to_owned();
    }
    let header = ["CLIENT_ID", "TYPE", "STATUS", "OWNER", "PROJECT", "NAME"].map(str::to_owned);
    let rows = clients.iter().map(|client| {
        let mut status = if client.enabled { "enabled" } else { "disabled" }.to_owned();
        if client.locked == Some(true) {
            status.push_str(",locked");
        }
        [
            client.client_id.clone(),
            client.client_type.clone(),
            status,
            printable(&client.client_owner),
            client.project_id.clone().unwrap_or_else(|| "-".to_owned()),
            printable(&client.name),
        ]
    });
    table(header, rows)
}

/// `header` and `rows` as columns padded to their widest cell, the last column unpadded.
pub(super) fn table<const N: usize>(header: [String; N], rows: impl Iterator<Item = [String; N]>) -> String {
    let rows: Vec<[String; N]> = std::iter::once(header).chain(rows).collect();
    let mut widths = [0; N];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in &rows {
        for (index, cell) in row.iter().enumerate() {
            if index + 1 == row.len() {
                text.push_str(cell);
            } else {
                let padding = widths[index] - cell.chars().count() + 2;
                text.push_str(cell);
                text.push_str(&" ".repeat(padding));
            }
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(token: Option<&str>, id: Option<&str>, secret: Option<&str>) -> ConnectionArgs {
        ConnectionArgs {
            url: "http://127.0.0.1:8080".to_owned(),
            token: token.map(str::to_owned),
            client_id: id.map(str::to_owned),
            client_secret: secret.map(str::to_owned),
            allow_insecure_http: false,
            json: false,
        }
    }

    fn kind(credentials: Result<Credentials, Failure>) -> Result<&'static str, String> {
        match credentials {
            Ok(Credentials::Bearer(_)) => Ok("token"),
            Ok(Credentials::Client { .. }) => Ok("client"),
            Err(failure) => {
                assert_eq!(failure.code, exit::USAGE);
                Err(failure.message)
            }
        }
    }

    #[test]
    fn credentials_come_from_a_token_or_client_credentials_and_flags_beat_the_environment() {
        let nothing_typed = |_: &str| false;
        assert_eq!(kind(credentials(&connection(Some("t"), None, None), nothing_typed)), Ok("token"));
        assert_eq!(kind(credentials(&connection(None, Some("i"), Some("s")), nothing_typed)), Ok("client"));
        let missing = kind(credentials(&connection(None, None, None), nothing_typed)).unwrap_err();
        assert!(missing.contains("--token") && missing.contains("--client-id"), "{missing}");
        assert!(
            kind(credentials(&connection(None, Some("i"), None), nothing_typed))
                .unwrap_err()
                .contains("--client-secret")
        );

        // GATEHOUSE_TOKEN in the environment, --client-id/--client-secret typed: the flags win.
        let both = connection(Some("t"), Some("i"), Some("s"));
        assert_eq!(kind(credentials(&both, |id| id != "token")), Ok("client"));
        assert_eq!(kind(credentials(&both, |id| id == "token")), Ok("token"));
        assert!(kind(credentials(&both, nothing_typed)).unwrap_err().contains("not both"));
    }

    #[test]
    fn rate_limits_are_rps_colon_burst() {
        assert_eq!(parse_rate_limit("10:20"), Ok(RateLimit { requests_per_second: 10, burst: 20 }));
        assert!(parse_rate_limit("10").is_err());
        assert!(parse_rate_limit("ten:20").is_err());
    }

    #[test]
    fn text_output_is_aligned_and_terminal_safe() {
        assert_eq!(aligned(&[("a", "1".to_owned()), ("long", "2".to_owned())]), "a:    1\nlong: 2\n");
        assert_eq!(printable("evil\u{1b}[2J\u{202E}name"), "evil\u{FFFD}[2J\u{FFFD}name");
    }
}
