//! AFL++ target `paging` (see the crate's documentation); a plain build replays files instead.

#[cfg(fuzzing)]
fn main() {
    afl::fuzz!(|data: &[u8]| gatehouse_fuzz::paging(data));
}

#[cfg(not(fuzzing))]
fn main() {
    gatehouse_fuzz::replay_main(gatehouse_fuzz::paging);
}
