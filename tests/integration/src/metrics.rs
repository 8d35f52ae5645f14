//! A service's `/metrics`, parsed as Prometheus text exposition (`prometheus-parse`), so
//! tests read series by name and labels instead of matching lines.

use prometheus_parse::{Scrape, Value};

/// One scrape.
pub struct Metrics(Scrape);

impl Metrics {
    /// Parses exposition text; panics on text Prometheus would not accept.
    pub fn parse(text: &str) -> Self {
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        Self(Scrape::parse(lines).unwrap_or_else(|err| panic!("not Prometheus text ({err}): {text}")))
    }

    /// The value of the series `name` with (at least) `labels`: a counter's or gauge's
    /// value, a histogram's count.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let sample = self
            .0
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))?;
        match &sample.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(*v),
            Value::Histogram(buckets) => buckets.last().map(|b| b.count),
            Value::Summary(_) => None,
        }
    }

    /// Whether the scrape has a series `name`, whatever its labels.
    pub fn has(&self, name: &str) -> bool {
        self.0.samples.iter().any(|s| s.metric == name)
    }
}
