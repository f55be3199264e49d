use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    gatehouse_server::cli::run().await
}
