//! The synthetic web the crawler crawls, generated once from the seed's setup stream and shared
//! read-only by every actor.
//!
//! Hosts have a heavy-tailed (Pareto) number of pages, a server latency and a worker capacity, a
//! robots rule (crawl delay, a disallowed path covering the host's last pages) and a health: healthy,
//! flaky (a share of fetches fail), dead (every fetch fails) or hung (never answers). Pages have a
//! power-law out-degree, mostly to pages of the same host; some are duplicates of another page of
//! their host under a different URL (same checksum and links).

use crate::bloom::mix64;
use serde::{Deserialize, Serialize};
use sim_core::math;
use sim_core::{Dist, Duration, Prng};
use std::collections::VecDeque;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Home pages of random hosts the crawl starts from.
    pub seed_pages: u32,
    /// Pages per host: Pareto(`pages_min`, `pages_shape`), capped at `pages_max`.
    pub pages_min: u32,
    pub pages_max: u32,
    pub pages_shape: f64,
    /// Links per page: Pareto(`links_min`, `links_shape`), capped at `links_max`.
    pub links_min: u32,
    pub links_max: u32,
    pub links_shape: f64,
    /// Share of links that stay on the page's host.
    pub intra_host_share: f64,
    /// Share of pages that duplicate another page of their host under a different URL.
    pub duplicate_share: f64,
    /// Each host's median service time is drawn from this.
    pub latency: Dist,
    /// Per-request spread around the host's median (log-normal sigma).
    pub latency_sigma: f64,
    /// No host takes longer than this to serve a request (must be below the fetch timeout).
    pub latency_max: Duration,
    /// A host serves up to this many requests at once (drawn uniformly in `1..=capacity_max`).
    pub capacity_max: u32,
    /// Each host's robots.txt crawl delay is drawn from this, capped at `crawl_delay_max`.
    pub crawl_delay: Dist,
    pub crawl_delay_max: Duration,
    pub dead_share: f64,
    pub hung_share: f64,
    pub flaky_share: f64,
    /// A flaky host fails this share of its requests.
    pub flaky_failure: f64,
    /// Share of hosts whose robots.txt disallows a path, and the share of their pages under it.
    pub disallow_share: f64,
    pub disallowed_pages_share: f64,
    /// Page size: log-normal around this median.
    pub page_bytes_median: u32,
    /// Share of a page's bytes that is extracted text.
    pub text_share: f64,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            seed_pages: 20,
            pages_min: 4,
            pages_max: 150,
            pages_shape: 1.2,
            links_min: 2,
            links_max: 40,
            links_shape: 1.5,
            intra_host_share: 0.85,
            duplicate_share: 0.05,
            latency: Dist::LogNormal { median: Duration::from_millis(20), sigma: 0.6 },
            latency_sigma: 0.3,
            latency_max: Duration::from_millis(500),
            capacity_max: 4,
            crawl_delay: Dist::Uniform { min: Duration::from_millis(20), max: Duration::from_millis(100) },
            crawl_delay_max: Duration::from_secs(1),
            dead_share: 0.02,
            hung_share: 0.01,
            flaky_share: 0.05,
            flaky_failure: 0.2,
            disallow_share: 0.1,
            disallowed_pages_share: 0.2,
            page_bytes_median: 20_000,
            text_share: 0.25,
        }
    }
}

impl WebConfig {
    pub fn validate(&self, e: &mut Vec<(String, String)>) {
        let p = "config.web";
        if self.seed_pages == 0 {
            e.push((format!("{p}.seed_pages"), "must be >= 1, got 0".into()));
        }
        if self.pages_min == 0 || self.pages_max < self.pages_min {
            e.push((
                format!("{p}.pages_min"),
                format!("need 1 <= pages_min <= pages_max, got {} and {}", self.pages_min, self.pages_max),
            ));
        }
        if self.links_max < self.links_min {
            e.push((format!("{p}.links_max"), format!("must be >= links_min ({})", self.links_min)));
        }
        for (name, v) in [("pages_shape", self.pages_shape), ("links_shape", self.links_shape)] {
            if !(v.is_finite() && v > 0.0) {
                e.push((format!("{p}.{name}"), format!("must be a positive number, got {v}")));
            }
        }
        for (name, v) in [
            ("intra_host_share", self.intra_host_share),
            ("duplicate_share", self.duplicate_share),
            ("dead_share", self.dead_share),
            ("hung_share", self.hung_share),
            ("flaky_share", self.flaky_share),
            ("flaky_failure", self.flaky_failure),
            ("disallow_share", self.disallow_share),
            ("disallowed_pages_share", self.disallowed_pages_share),
            ("text_share", self.text_share),
        ] {
            if !(0.0..=1.0).contains(&v) {
                e.push((format!("{p}.{name}"), format!("a share must be within [0, 1], got {v}")));
            }
        }
        if self.dead_share + self.hung_share + self.flaky_share > 1.0 {
            e.push((format!("{p}.dead_share"), "dead_share + hung_share + flaky_share must be <= 1".into()));
        }
        for (name, d) in [("latency", &self.latency), ("crawl_delay", &self.crawl_delay)] {
            if let Err(m) = d.validate() {
                e.push((format!("{p}.{name}"), m));
            }
        }
        if !(self.latency_sigma.is_finite() && self.latency_sigma >= 0.0) {
            e.push((format!("{p}.latency_sigma"), format!("must be >= 0, got {}", self.latency_sigma)));
        }
        if self.capacity_max == 0 {
            e.push((format!("{p}.capacity_max"), "must be >= 1, got 0".into()));
        }
        if self.latency_max.0 == 0 {
            e.push((format!("{p}.latency_max"), "must be positive".into()));
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Healthy,
    /// Fails a share of requests (a 503 now and then): retries get through.
    Flaky,
    /// Refuses every request.
    Dead,
    /// Accepts requests and never answers: only the fetcher's timeout ends them.
    Hung,
}

#[derive(Clone, Debug)]
pub struct Host {
    pub first_page: u32,
    pub page_count: u32,
    pub latency_median: Duration,
    pub capacity: u32,
    /// robots.txt `Crawl-delay`: the least gap the host tolerates between one response and the next
    /// request.
    pub crawl_delay: Duration,
    pub health: Health,
    /// robots.txt `Disallow`: pages with a local index >= this are off limits.
    pub disallow_from: u32,
}

impl Host {
    pub fn fetchable(&self) -> bool {
        matches!(self.health, Health::Healthy | Health::Flaky)
    }
    pub fn disallows(&self, page: u32) -> bool {
        page - self.first_page >= self.disallow_from
    }
}

#[derive(Clone, Debug)]
pub struct Page {
    pub host: u32,
    pub links: Vec<u32>,
    pub checksum: u64,
    pub bytes: u32,
    /// The page this one duplicates (same content under another URL).
    pub duplicate_of: Option<u32>,
}

#[derive(Clone, Debug)]
pub struct Web {
    pub hosts: Vec<Host>,
    pub pages: Vec<Page>,
    pub seeds: Vec<u32>,
    pub flaky_failure: f64,
    pub latency_sigma: f64,
    pub latency_max: Duration,
    pub text_share: f64,
}

fn pareto(rng: &mut Prng, min: u32, shape: f64, max: u32) -> u32 {
    let u = 1.0 - rng.unit();
    let x = min as f64 / math::powf(u, 1.0 / shape);
    (x.floor() as u64).min(max as u64) as u32
}

impl Web {
    pub fn generate(c: &WebConfig, host_count: u32, rng: &mut Prng) -> Web {
        let mut hosts = Vec::with_capacity(host_count as usize);
        let mut first = 0u32;
        for _ in 0..host_count {
            let page_count = pareto(rng, c.pages_min, c.pages_shape, c.pages_max).max(1);
            let latency_median = Duration(c.latency.sample(rng).0.clamp(100_000, c.latency_max.0));
            let capacity = 1 + rng.below(c.capacity_max as u64) as u32;
            let crawl_delay = Duration(c.crawl_delay.sample(rng).0.min(c.crawl_delay_max.0));
            let u = rng.unit();
            let health = if u < c.dead_share {
                Health::Dead
            } else if u < c.dead_share + c.hung_share {
                Health::Hung
            } else if u < c.dead_share + c.hung_share + c.flaky_share {
                Health::Flaky
            } else {
                Health::Healthy
            };
            let disallow_from = if rng.chance(c.disallow_share) {
                // The home page (local index 0) stays allowed.
                let off = ((page_count as f64 * c.disallowed_pages_share).ceil() as u32).min(page_count - 1);
                page_count - off
            } else {
                page_count
            };
            hosts.push(Host {
                first_page: first,
                page_count,
                latency_median,
                capacity,
                crawl_delay,
                health,
                disallow_from,
            });
            first += page_count;
        }
        let total = first;
        let mut pages = Vec::with_capacity(total as usize);
        for (h, host) in hosts.iter().enumerate() {
            for local in 0..host.page_count {
                let degree = pareto(rng, c.links_min, c.links_shape, c.links_max);
                let links = (0..degree)
                    .map(|_| {
                        if rng.chance(c.intra_host_share) {
                            host.first_page + rng.below(host.page_count as u64) as u32
                        } else {
                            rng.below(total as u64) as u32
                        }
                    })
                    .collect();
                let bytes = (c.page_bytes_median as f64 * math::exp(0.5 * rng.std_normal())).max(200.0) as u32;
                let mut page = Page { host: h as u32, links, checksum: rng.next_u64(), bytes, duplicate_of: None };
                if local > 0 && rng.chance(c.duplicate_share) {
                    let orig = host.first_page + rng.below(local as u64) as u32;
                    let o: &Page = &pages[orig as usize];
                    page.links = o.links.clone();
                    page.checksum = o.checksum;
                    page.bytes = o.bytes;
                    page.duplicate_of = Some(orig);
                }
                pages.push(page);
            }
        }
        let mut seeds = Vec::new();
        for _ in 0..c.seed_pages.min(host_count) * 4 {
            if seeds.len() >= c.seed_pages as usize {
                break;
            }
            let s = hosts[rng.below(host_count as u64) as usize].first_page;
            if !seeds.contains(&s) {
                seeds.push(s);
            }
        }
        Web {
            hosts,
            pages,
            seeds,
            flaky_failure: c.flaky_failure,
            latency_sigma: c.latency_sigma,
            latency_max: c.latency_max,
            text_share: c.text_share,
        }
    }

    pub fn host_of(&self, page: u32) -> u32 {
        self.pages[page as usize].host
    }

    /// The crawler (index) that owns a host: crawlers partition the web by host hash.
    pub fn owner(host: u32, crawlers: u32) -> u32 {
        (mix64(host as u64 ^ 0xC2B2_AE3D_27D4_EB4F) % crawlers as u64) as u32
    }

    /// Pages a perfect crawler reaches from the seeds: only fetchable, allowed pages are fetched and
    /// only their links followed. Returned as a flag per page.
    pub fn reachable(&self) -> Vec<bool> {
        let mut seen = vec![false; self.pages.len()];
        let mut queue = VecDeque::new();
        for &s in &self.seeds {
            if self.can_fetch(s) && !seen[s as usize] {
                seen[s as usize] = true;
                queue.push_back(s);
            }
        }
        while let Some(p) = queue.pop_front() {
            for &l in &self.pages[p as usize].links {
                if !seen[l as usize] && self.can_fetch(l) {
                    seen[l as usize] = true;
                    queue.push_back(l);
                }
            }
        }
        seen
    }

    fn can_fetch(&self, page: u32) -> bool {
        let h = &self.hosts[self.host_of(page) as usize];
        h.fetchable() && !h.disallows(page)
    }

    /// Mean service time of a host (log-normal around its median, before the cap).
    pub fn service_mean(&self, host: u32) -> f64 {
        self.hosts[host as usize].latency_median.0 as f64 * math::exp(self.latency_sigma * self.latency_sigma / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::rng::Stream;

    #[test]
    fn the_web_is_heavy_tailed_and_mostly_reachable() {
        let web = Web::generate(&WebConfig::default(), 400, &mut Prng::new(3, Stream::Setup));
        let counts: Vec<u32> = web.hosts.iter().map(|h| h.page_count).collect();
        let max = *counts.iter().max().unwrap() as f64;
        let mean = counts.iter().sum::<u32>() as f64 / counts.len() as f64;
        assert!(max > 4.0 * mean, "heavy tail: max {max}, mean {mean}");
        let reach = web.reachable().iter().filter(|r| **r).count() as f64 / web.pages.len() as f64;
        assert!(reach > 0.6, "reachable share {reach}");
        assert!(web.pages.iter().any(|p| p.duplicate_of.is_some()));
    }
}
