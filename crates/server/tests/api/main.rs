//! The HTTP integration suite (filled in next).
