//! Prometheus metrics for `GET /metrics` (DESIGN.md "Operations"): what the token endpoint, the
//! gateway check and introspection decided, counted per outcome. Every counter a request can
//! touch is created at start, so counting is one relaxed atomic add: no lock, no label lookup,
//! nothing the gateway check would notice.

use std::fmt::Write as _;

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

type Label = [(&'static str, &'static str); 1];

/// What the gateway check answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckDecision {
    Allowed,
    Unauthenticated,
    Forbidden,
    RateLimited,
    Unavailable,
}

impl CheckDecision {
    const ALL: [CheckDecision; 5] = [
        CheckDecision::Allowed,
        CheckDecision::Unauthenticated,
        CheckDecision::Forbidden,
        CheckDecision::RateLimited,
        CheckDecision::Unavailable,
    ];

    fn label(self) -> &'static str {
        match self {
            CheckDecision::Allowed => "allowed",
            CheckDecision::Unauthenticated => "unauthenticated",
            CheckDecision::Forbidden => "forbidden",
            CheckDecision::RateLimited => "rate_limited",
            CheckDecision::Unavailable => "unavailable",
        }
    }
}

/// The outcomes of a token request: `issued`, or the RFC 6749 §5.2 error code it got.
const TOKEN_OUTCOMES: [&str; 8] = [
    "issued",
    "invalid_request",
    "invalid_client",
    "invalid_scope",
    "unsupported_grant_type",
    "slow_down",
    "temporarily_unavailable",
    "server_error",
];

pub struct Metrics {
    registry: Registry,
    token_requests: [Counter; TOKEN_OUTCOMES.len()],
    gateway_checks: [Counter; CheckDecision::ALL.len()],
    introspection_active: Counter,
    introspection_inactive: Counter,
    audit_refusals_suppressed: Counter,
    resident_memory: Gauge,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        registry.register(
            "gatehouse_build",
            "The running Gatehouse version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );

        let tokens = Family::<Label, Counter>::default();
        registry.register(
            "gatehouse_token_requests",
            "Client-credentials token requests, by outcome: issued, or the OAuth error returned",
            tokens.clone(),
        );
        let token_requests = TOKEN_OUTCOMES.map(|outcome| tokens.get_or_create_owned(&[("outcome", outcome)]));

        let checks = Family::<Label, Counter>::default();
        registry.register("gatehouse_gateway_checks", "Gateway check decisions", checks.clone());
        let gateway_checks =
            CheckDecision::ALL.map(|decision| checks.get_or_create_owned(&[("decision", decision.label())]));

        let introspections = Family::<Label, Counter>::default();
        registry.register(
            "gatehouse_introspections",
            "Token introspection answers (RFC 7662), by whether the token was active",
            introspections.clone(),
        );
        let introspection_active = introspections.get_or_create_owned(&[("active", "true")]);
        let introspection_inactive = introspections.get_or_create_owned(&[("active", "false")]);

        let audit_refusals_suppressed = Counter::default();
        registry.register(
            "gatehouse_audit_refusals_suppressed",
            "Refused requests beyond the audit log's per-minute budget: counted here, not written",
            audit_refusals_suppressed.clone(),
        );

        let resident_memory = Gauge::default();
        registry.register("process_resident_memory_bytes", "Resident memory size in bytes", resident_memory.clone());

        Self {
            registry,
            token_requests,
            gateway_checks,
            introspection_active,
            introspection_inactive,
            audit_refusals_suppressed,
            resident_memory,
        }
    }

    pub fn token_issued(&self) {
        self.token_requests[0].inc();
    }

    /// A refused token request, by its RFC 6749 §5.2 `error` code.
    pub fn token_refused(&self, error: &str) {
        let index = TOKEN_OUTCOMES.iter().position(|outcome| *outcome == error).unwrap_or(TOKEN_OUTCOMES.len() - 1);
        self.token_requests[index].inc();
    }

    pub fn gateway_check(&self, decision: CheckDecision) {
        let index = CheckDecision::ALL.iter().position(|d| *d == decision).unwrap_or_default();
        self.gateway_checks[index].inc();
    }

    pub fn introspection(&self, active: bool) {
        if active { &self.introspection_active } else { &self.introspection_inactive }.inc();
    }

    /// The exposition, in the OpenMetrics text format (which Prometheus reads).
    /// `audit_refusals_suppressed` is the domain's own running count.
    pub fn render(&self, audit_refusals_suppressed: u64) -> String {
        self.audit_refusals_suppressed.inner().store(audit_refusals_suppressed, std::sync::atomic::Ordering::Relaxed);
        if let Some(bytes) = resident_memory_bytes() {
            self.resident_memory.set(bytes);
        }
        let mut text = String::with_capacity(4096);
        let encoded = encode_registry(&mut text, &self.registry).and_then(|()| encode_eof(&mut text));
        if encoded.is_err() {
            // Writing to a String cannot fail; should the encoder ever refuse, say so in the
            // exposition rather than serve half of it.
            text.clear();
            let _ = writeln!(text, "# the metrics could not be encoded\n# EOF");
        }
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The process's resident set, from `/proc/self/status` (Linux; elsewhere the gauge stays 0).
fn resident_memory_bytes() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_outcome_under_its_own_label() {
        let metrics = Metrics::new();
        metrics.token_issued();
        metrics.token_issued();
        metrics.token_refused("invalid_client");
        metrics.token_refused("an error this build does not know");
        metrics.gateway_check(CheckDecision::RateLimited);
        metrics.introspection(false);
        let text = metrics.render(7);
        assert!(text.contains("gatehouse_token_requests_total{outcome=\"issued\"} 2\n"), "{text}");
        assert!(text.contains("gatehouse_token_requests_total{outcome=\"invalid_client\"} 1\n"));
        assert!(text.contains("gatehouse_token_requests_total{outcome=\"server_error\"} 1\n"));
        assert!(text.contains("gatehouse_gateway_checks_total{decision=\"rate_limited\"} 1\n"));
        assert!(text.contains("gatehouse_gateway_checks_total{decision=\"allowed\"} 0\n"));
        assert!(text.contains("gatehouse_introspections_total{active=\"false\"} 1\n"));
        assert!(text.contains("gatehouse_audit_refusals_suppressed_total 7\n"));
        assert!(text.ends_with("# EOF\n"));
    }
}
