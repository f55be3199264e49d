//! AFL++ target `client_fields` (see the crate's documentation); a plain build replays files instead.

#[cfg(fuzzing)]
fn main() {
    afl::fuzz!(|data: &[u8]| gatehouse_fuzz::client_fields(data));
}

#[cfg(not(fuzzing))]
fn main() {
    gatehouse_fuzz::replay_main(gatehouse_fuzz::client_fields);
}
