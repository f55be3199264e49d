//! `gatehouse projects ...`: a running server's `/v1/projects` API (seed file 002). Among
//! developers, only a project's members see its clients. Connection, credentials, exit statuses
//! and output are those of `gatehouse clients`.

use clap::builder::NonEmptyStringValueParser;
use clap::{ArgMatches, Args, Subcommand};

use super::Failure;
use super::clients::{ConnectionArgs, aligned, emit, exit, given_credentials, list_or, printable, table};
use crate::admin_client::{AdminClient, NewProject, ProjectEnvelope, ProjectPatch, ProjectView, Reply};

#[derive(Args)]
pub struct ProjectsArgs {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(subcommand)]
    command: ProjectsCommand,
}

#[derive(Subcommand)]
enum ProjectsCommand {
    /// List projects by name: every project of the account for its owner and admins, their own
    /// for a developer.
    List(ListArgs),
    /// Create a project (owners and admins). Put clients in it with `clients create --project`.
    Create(CreateArgs),
    /// Show one project and its members.
    Show(ProjectIdArg),
    /// Change a project's name or description; the other stays as it is.
    Update(UpdateArgs),
    /// Delete a project. Refused while clients are in it: move them out or delete them first.
    Delete(ProjectIdArg),
    /// Make a user of the project's account a member: they then see the project's clients.
    AddMember(MemberArgs),
    /// Take a user out of a project: they no longer see its clients.
    RemoveMember(MemberArgs),
}

#[derive(Args)]
struct ProjectIdArg {
    /// The project's id (`prj_...`).
    #[arg(value_name = "PROJECT_ID", value_parser = NonEmptyStringValueParser::new())]
    id: String,
}

#[derive(Args)]
struct ListArgs {
    /// A child account's projects.
    #[arg(long, value_name = "ACCOUNT_ID")]
    account_id: Option<String>,
}

#[derive(Args)]
struct CreateArgs {
    /// The project's name, unique in its account.
    #[arg(value_name = "NAME")]
    name: String,
    /// Free text, up to 1000 characters.
    #[arg(long)]
    description: Option<String>,
    /// Create it in this child account instead of your own.
    #[arg(long, value_name = "ACCOUNT_ID")]
    account_id: Option<String>,
}

#[derive(Args)]
struct UpdateArgs {
    #[command(flatten)]
    project: ProjectIdArg,
    /// A new name.
    #[arg(long)]
    name: Option<String>,
    /// A new description.
    #[arg(long)]
    description: Option<String>,
}

#[derive(Args)]
struct MemberArgs {
    #[command(flatten)]
    project: ProjectIdArg,
    /// The user's id (`usr_...`), a user of the project's account.
    #[arg(value_name = "USER_ID", value_parser = NonEmptyStringValueParser::new())]
    user_id: String,
}

/// `matches` are the `projects` subcommand's, to tell flags from environment variables.
pub async fn run(args: ProjectsArgs, matches: &ArgMatches) -> Result<(), Failure> {
    let credentials = given_credentials(&args.connection, matches)?;
    if let ProjectsCommand::Update(update) = &args.command
        && update.name.is_none()
        && update.description.is_none()
    {
        return Err(Failure {
            message: "nothing to update: give --name or --description".to_owned(),
            code: exit::USAGE,
        });
    }
    let client = AdminClient::connect(&args.connection.url, credentials, args.connection.allow_insecure_http).await?;
    let result = execute(&client, args.command, args.connection.json).await;
    client.finish().await;
    result
}

async fn execute(client: &AdminClient, command: ProjectsCommand, json: bool) -> Result<(), Failure> {
    match command {
        ProjectsCommand::List(args) => {
            let reply = client.list_projects(args.account_id.as_deref()).await?;
            if json {
                return emit(&reply.body);
            }
            emit(&project_table(&reply.value.projects))
        }
        ProjectsCommand::Create(args) => {
            let new = NewProject { name: args.name, description: args.description, account_id: args.account_id };
            show(client.create_project(&new).await?, json)
        }
        ProjectsCommand::Show(args) => show(client.get_project(&args.id).await?, json),
        ProjectsCommand::Update(args) => {
            let patch = ProjectPatch { name: args.name, description: args.description };
            show(client.update_project(&args.project.id, &patch).await?, json)
        }
        ProjectsCommand::Delete(args) => {
            client.delete_project(&args.id).await?;
            // 204 has no body, so `--json` prints nothing: the exit status is the answer.
            if json { Ok(()) } else { emit(&format!("project {} deleted\n", args.id)) }
        }
        ProjectsCommand::AddMember(args) => {
            show(client.add_project_member(&args.project.id, &args.user_id).await?, json)
        }
        ProjectsCommand::RemoveMember(args) => {
            client.remove_project_member(&args.project.id, &args.user_id).await?;
            if json {
                return Ok(());
            }
            emit(&format!("user {} removed from project {}\n", args.user_id, args.project.id))
        }
    }
}

/// One project: the server's body with `--json`, `key: value` lines without.
fn show(reply: Reply<ProjectEnvelope>, json: bool) -> Result<(), Failure> {
    if json {
        return emit(&reply.body);
    }
    emit(&project_details(&reply.value.project))
}

fn project_details(project: &ProjectView) -> String {
    let members: Vec<String> =
        project.members.iter().map(|member| format!("{} ({})", printable(&member.email), member.user_id)).collect();
    aligned(&[
        ("project_id", project.project_id.clone()),
        ("name", printable(&project.name)),
        ("description", printable(&project.description)),
        ("account_id", project.account_id.clone()),
        ("members", list_or(&members, "(none)")),
        ("date_created", project.date_created.clone()),
        ("date_updated", project.date_updated.clone()),
    ])
}

/// One line per project, by name as the server lists them; the name last, as it varies most.
fn project_table(projects: &[ProjectView]) -> String {
    if projects.is_empty() {
        return "no projects\n".to_owned();
    }
    let header = ["PROJECT_ID", "MEMBERS", "NAME"].map(str::to_owned);
    let rows = projects
        .iter()
        .map(|project| [project.project_id.clone(), project.members.len().to_string(), printable(&project.name)]);
    table(header, rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin_client::MemberView;

    fn project(members: &[(&str, &str)]) -> ProjectView {
        ProjectView {
            project_id: "prj_1".to_owned(),
            account_id: "acc_1".to_owned(),
            name: "Billing\u{202E}".to_owned(),
            description: String::new(),
            members: members
                .iter()
                .map(|(user_id, email)| MemberView { user_id: (*user_id).to_owned(), email: (*email).to_owned() })
                .collect(),
            date_created: "2026-01-01T00:00:00Z".to_owned(),
            date_updated: "2026-01-01T00:00:00Z".to_owned(),
        }
    }

    #[test]
    fn members_are_shown_with_their_user_ids_and_names_are_terminal_safe() {
        let details = project_details(&project(&[("usr_1", "a@example.com"), ("usr_2", "b@example.com")]));
        assert!(details.contains("members:      a@example.com (usr_1), b@example.com (usr_2)\n"), "{details}");
        assert!(details.contains("name:         Billing\u{FFFD}\n"), "{details}");
        assert!(project_details(&project(&[])).contains("members:      (none)\n"));
        assert_eq!(project_table(&[]), "no projects\n");
        assert_eq!(
            project_table(&[project(&[("usr_1", "a@example.com")])]),
            "PROJECT_ID  MEMBERS  NAME\nprj_1       1        Billing\u{FFFD}\n"
        );
    }
}
