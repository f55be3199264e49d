// `sqlx::migrate!` embeds the migrations when the crate compiles; without this, a new migration
// file alone does not make Cargo rebuild the crate, and an incremental build ships without it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
