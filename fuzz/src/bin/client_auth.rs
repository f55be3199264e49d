//! AFL++ target `client_auth` (see the crate's documentation); a plain build replays files instead.

#[cfg(fuzzing)]
fn main() {
    afl::fuzz!(|data: &[u8]| gatehouse_fuzz::client_auth(data));
}

#[cfg(not(fuzzing))]
fn main() {
    gatehouse_fuzz::replay_main(gatehouse_fuzz::client_auth);
}
