//! Which caller may call which methods. One rule per line (or per `;` when given inline):
//! `<caller> = <pattern>, <pattern>`, where a pattern is a full method
//! (`caixa.billing.v1.BillingService/GetPortalUrl`), a whole service
//! (`caixa.billing.v1.BillingService/*`) or `*`. A caller with no rule may call nothing.
//! The caller `*` ([`ANYONE`]) names everyone, with credentials or without: its methods
//! are open (`* = caixa.billing.v1.BillingService/ListPlans` for a pricing page).

use std::collections::HashMap;

/// The caller name a rule gives to everyone, credentials or none.
pub const ANYONE: &str = "*";

/// Why a policy cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A rule is not `<caller> = <patterns>`.
    #[error("rule {rule}: expected `<caller> = <service>/<method>, <service>/*, or *`")]
    BadRule {
        /// One-based rule number.
        rule: usize,
    },
}

/// Per-caller method rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MethodPolicy {
    rules: HashMap<String, Vec<Pattern>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Pattern {
    Any,
    /// `/pkg.Service/`
    Service(String),
    /// `/pkg.Service/Method`
    Method(String),
}

impl MethodPolicy {
    /// Parses rules separated by newlines or `;`; `#` starts a comment.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let mut rules: HashMap<String, Vec<Pattern>> = HashMap::new();
        let lines = text.lines().flat_map(|line| line.split('#').next().unwrap_or_default().split(';'));
        for (index, rule) in lines.map(str::trim).filter(|r| !r.is_empty()).enumerate() {
            let bad = || PolicyError::BadRule { rule: index + 1 };
            let (caller, patterns) = rule.split_once('=').ok_or_else(bad)?;
            let caller = caller.trim();
            if caller.is_empty() || caller.contains(char::is_whitespace) {
                return Err(bad());
            }
            let entry = rules.entry(caller.to_owned()).or_default();
            for pattern in patterns.split(',').map(str::trim) {
                entry.push(parse_pattern(pattern).ok_or_else(bad)?);
            }
        }
        Ok(Self { rules })
    }

    /// Whether `caller` may call `path` (`/pkg.Service/Method`).
    pub fn allows(&self, caller: &str, path: &str) -> bool {
        self.rules.get(caller).is_some_and(|patterns| {
            patterns.iter().any(|pattern| match pattern {
                Pattern::Any => true,
                Pattern::Service(prefix) => path.starts_with(prefix.as_str()),
                Pattern::Method(method) => path == method,
            })
        })
    }
}

fn parse_pattern(pattern: &str) -> Option<Pattern> {
    if pattern == "*" {
        return Some(Pattern::Any);
    }
    let (service, method) = pattern.trim_start_matches('/').split_once('/')?;
    let word =
        |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if !word(service) {
        return None;
    }
    match method {
        "*" => Some(Pattern::Service(format!("/{service}/"))),
        m if word(m) && !m.contains('.') => Some(Pattern::Method(format!("/{service}/{m}"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BILLING: &str = "/caixa.billing.v1.BillingService/";

    #[test]
    fn rules_grant_methods_services_or_everything() {
        let policy = MethodPolicy::parse(
            "web = caixa.billing.v1.BillingService/*\n\
             reports = caixa.entitlement.v1.EntitlementService/CheckAccess; ops = *",
        )
        .unwrap();
        assert!(policy.allows("web", &format!("{BILLING}CreateCheckoutSession")));
        assert!(!policy.allows("web", "/caixa.billing.v1.SubscriptionEvents/Watch"));
        assert!(policy.allows("reports", "/caixa.entitlement.v1.EntitlementService/CheckAccess"));
        assert!(!policy.allows("reports", "/caixa.entitlement.v1.EntitlementService/CheckAccessBatch"));
        assert!(policy.allows("ops", "/anything.At/All"));
        assert!(!policy.allows("stranger", &format!("{BILLING}GetConfig")));
    }

    #[test]
    fn a_service_pattern_does_not_match_a_longer_service_name() {
        let policy = MethodPolicy::parse("web = pkg.Billing/*").unwrap();
        assert!(policy.allows("web", "/pkg.Billing/Get"));
        assert!(!policy.allows("web", "/pkg.BillingAdmin/Get"));
    }

    #[test]
    fn bad_rules_are_named() {
        for (text, rule) in
            [("web", 1), ("ok = *; web = ", 2), ("a b = *", 1), ("w = pkg.S/M/x", 1), ("w = /x", 1)]
        {
            assert!(
                matches!(MethodPolicy::parse(text), Err(PolicyError::BadRule { rule: r }) if r == rule),
                "{text}"
            );
        }
    }
}
