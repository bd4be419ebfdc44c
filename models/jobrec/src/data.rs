//! The generated world (users, jobs, applications) and what each reason computes from it.
//!
//! Everything here is a pure function of the tables: the data service, every reason service and
//! the checker's oracle hold the same [`Tables`] (the reason services as a replica that the data
//! service's updates keep current), so a reason's list can be recomputed anywhere.

use parts::rank::Ranked;
use serde::{Deserialize, Serialize};
use sim_core::Prng;
use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};

/// The five reasons of the notes, in the page's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// Jobs posted by the people the user follows (at most 5 a poster: the notes' feed cache).
    Followee,
    /// Jobs in the user's location.
    Location,
    /// Jobs sharing a skill with the user, by the size of the overlap (the notes' "product of
    /// user skill set and job skill set").
    Skills,
    /// Jobs frequently applied to together with the user's own applications (frequent pairs).
    CoApplied,
    /// The most applied-to jobs (a running counter per job).
    Popularity,
}

pub const REASONS: usize = 5;

impl Reason {
    pub const ALL: [Reason; REASONS] =
        [Reason::Followee, Reason::Location, Reason::Skills, Reason::CoApplied, Reason::Popularity];

    pub fn name(self) -> &'static str {
        match self {
            Reason::Followee => "followee",
            Reason::Location => "location",
            Reason::Skills => "skills",
            Reason::CoApplied => "co_applied",
            Reason::Popularity => "popularity",
        }
    }
}

/// The world's size and shape, generated from the seed.
///
/// ```ron
/// world: (users: 2000, recruiters: 200, locations: 20, skills: 40, skills_per_user: 3,
///         skills_per_job: 3, follows_per_user: 15, jobs: 2000, applications: 8000, min_support: 2)
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorldSpec {
    pub users: u32,
    /// Users `0..recruiters` post the jobs (and half of every user's follows go to them).
    pub recruiters: u32,
    /// Locations, weighted 1/rank (a few big cities).
    pub locations: u32,
    pub skills: u32,
    pub skills_per_user: u32,
    pub skills_per_job: u32,
    pub follows_per_user: u32,
    /// Jobs and applications present at the start.
    pub jobs: u32,
    pub applications: u32,
    /// A pair of jobs is frequent when at least this many users applied to both.
    pub min_support: u32,
    /// Keep at most this many jobs a poster in the followee feed (the notes: 5).
    pub posts_per_followee: u32,
}

impl Default for WorldSpec {
    fn default() -> Self {
        WorldSpec {
            users: 2000,
            recruiters: 200,
            locations: 20,
            skills: 40,
            skills_per_user: 3,
            skills_per_job: 3,
            follows_per_user: 15,
            jobs: 2000,
            applications: 8000,
            min_support: 2,
            posts_per_followee: 5,
        }
    }
}

impl WorldSpec {
    pub fn validate(&self, path: &str) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let mut at_least = |field: &str, v: u32, min: u32| {
            if v < min {
                e.push((format!("{path}.{field}"), format!("must be at least {min}, got {v}")));
            }
        };
        at_least("users", self.users, 2);
        at_least("recruiters", self.recruiters, 1);
        at_least("locations", self.locations, 1);
        at_least("skills", self.skills, 1);
        at_least("skills_per_user", self.skills_per_user, 1);
        at_least("skills_per_job", self.skills_per_job, 1);
        at_least("min_support", self.min_support, 1);
        at_least("posts_per_followee", self.posts_per_followee, 1);
        if self.recruiters > self.users {
            e.push((format!("{path}.recruiters"), format!("at most users ({}), got {}", self.users, self.recruiters)));
        }
        for (field, v) in [("skills_per_user", self.skills_per_user), ("skills_per_job", self.skills_per_job)] {
            if v > self.skills {
                e.push((format!("{path}.{field}"), format!("at most skills ({}), got {v}", self.skills)));
            }
        }
        if self.follows_per_user >= self.users {
            e.push((
                format!("{path}.follows_per_user"),
                format!("below users ({}), got {}", self.users, self.follows_per_user),
            ));
        }
        if self.users > 10_000_000 || self.jobs > 10_000_000 || self.applications > 100_000_000 {
            e.push((path.to_string(), "at most 10 M users and jobs and 100 M applications".into()));
        }
        e
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub location: u32,
    pub skills: Vec<u32>,
    pub follows: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct JobRow {
    pub poster: u32,
    pub location: u32,
    pub skills: Vec<u32>,
}

/// `k` distinct values below `n`, in drawing order.
fn distinct(rng: &mut Prng, n: u32, k: u32, not: Option<u32>) -> Vec<u32> {
    let mut v: Vec<u32> = Vec::with_capacity(k as usize);
    while (v.len() as u32) < k {
        let x = rng.below(n as u64) as u32;
        if !v.contains(&x) && Some(x) != not {
            v.push(x);
        }
    }
    v
}

/// Every table, with the indexes the reasons read. Jobs and applications are only added.
#[derive(Clone, Debug)]
pub struct Tables {
    pub spec: WorldSpec,
    pub users: Vec<User>,
    pub jobs: Vec<JobRow>,
    /// Applications in commit order: `(user, job)`.
    pub apps: Vec<(u32, u32)>,
    location_weights: Vec<f64>,
    pub posts_by: Vec<Vec<u32>>,
    pub jobs_by_location: Vec<Vec<u32>>,
    pub jobs_by_skill: Vec<Vec<u32>>,
    pub apps_by_user: Vec<Vec<u32>>,
    /// Per job: the jobs co-applied with it and by how many users.
    pub partners: Vec<BTreeMap<u32, u32>>,
    /// Applications per job: the running counter.
    pub counts: Ranked,
}

impl Tables {
    /// The world at the start, from the setup stream.
    pub fn generate(spec: &WorldSpec, rng: &mut Prng) -> Tables {
        let location_weights: Vec<f64> = (0..spec.locations).map(|i| 1.0 / (i + 1) as f64).collect();
        let users: Vec<User> = (0..spec.users)
            .map(|u| {
                let location = rng.weighted(&location_weights) as u32;
                let skills = distinct(rng, spec.skills, spec.skills_per_user, None);
                // Half the follows go to recruiters (the people who post jobs).
                let half =
                    (spec.follows_per_user / 2).min(spec.recruiters.saturating_sub(u32::from(u < spec.recruiters)));
                let mut follows = distinct(rng, spec.recruiters, half, Some(u));
                while (follows.len() as u32) < spec.follows_per_user {
                    let x = rng.below(spec.users as u64) as u32;
                    if x != u && !follows.contains(&x) {
                        follows.push(x);
                    }
                }
                User { location, skills, follows }
            })
            .collect();
        let mut t = Tables {
            spec: spec.clone(),
            posts_by: vec![Vec::new(); spec.users as usize],
            jobs_by_location: vec![Vec::new(); spec.locations as usize],
            jobs_by_skill: vec![Vec::new(); spec.skills as usize],
            apps_by_user: vec![Vec::new(); spec.users as usize],
            users,
            jobs: Vec::new(),
            apps: Vec::new(),
            location_weights,
            partners: Vec::new(),
            counts: Ranked::new(),
        };
        for _ in 0..spec.jobs {
            let poster = rng.below(spec.recruiters as u64) as u32;
            let row = t.new_job(poster, rng);
            t.add_job(row);
        }
        let mut tries = 0u64;
        while (t.apps.len() as u32) < spec.applications && tries < 10 * spec.applications as u64 + 100 {
            tries += 1;
            let user = rng.below(spec.users as u64) as u32;
            if let Some(job) = t.pick_job(user, rng) {
                t.add_app(user, job);
            }
        }
        t
    }

    /// A new job by `poster`: mostly in the poster's location, skills drawn at random.
    pub fn new_job(&self, poster: u32, rng: &mut Prng) -> JobRow {
        let location = if rng.chance(0.7) {
            self.users[poster as usize].location
        } else {
            rng.weighted(&self.location_weights) as u32
        };
        JobRow { poster, location, skills: distinct(rng, self.spec.skills, self.spec.skills_per_job, None) }
    }

    /// The job `user` applies to: one requiring one of the user's skills, older ones more likely
    /// (so applications cluster and pairs recur); `None` when the draw hit one already applied to.
    pub fn pick_job(&self, user: u32, rng: &mut Prng) -> Option<u32> {
        let skills = &self.users[user as usize].skills;
        let s = skills[rng.below(skills.len() as u64) as usize];
        let list = &self.jobs_by_skill[s as usize];
        if list.is_empty() {
            return None;
        }
        let u = rng.unit();
        let job = list[((list.len() as f64) * u * u) as usize % list.len()];
        (!self.apps_by_user[user as usize].contains(&job)).then_some(job)
    }

    pub fn add_job(&mut self, row: JobRow) -> u32 {
        let id = self.jobs.len() as u32;
        self.posts_by[row.poster as usize].push(id);
        self.jobs_by_location[row.location as usize].push(id);
        for &s in &row.skills {
            self.jobs_by_skill[s as usize].push(id);
        }
        self.partners.push(BTreeMap::new());
        self.jobs.push(row);
        id
    }

    /// An application: the counter goes up, and the job pairs with each of the user's earlier ones.
    pub fn add_app(&mut self, user: u32, job: u32) {
        for &a in &self.apps_by_user[user as usize] {
            *self.partners[a as usize].entry(job).or_insert(0) += 1;
            *self.partners[job as usize].entry(a).or_insert(0) += 1;
        }
        self.apps_by_user[user as usize].push(job);
        self.apps.push((user, job));
        self.counts.add(job as u64, 1);
    }

    /// The entities whose cached lists make `user`'s list for `reason` (posters, a location,
    /// skills, the user's applied jobs, the one popularity list).
    pub fn entities(&self, reason: Reason, user: u32) -> Vec<u64> {
        let u = &self.users[user as usize];
        match reason {
            Reason::Followee => u.follows.iter().map(|&f| f as u64).collect(),
            Reason::Location => vec![u.location as u64],
            Reason::Skills => u.skills.iter().map(|&s| s as u64).collect(),
            Reason::CoApplied => self.apps_by_user[user as usize].iter().map(|&j| j as u64).collect(),
            Reason::Popularity => vec![0],
        }
    }

    /// One entity's list as a worker precomputes it (and as a request computes it without a
    /// cache), with the rows a database query for it reads.
    pub fn entry(&self, reason: Reason, key: u64, keep: usize) -> (Entry, u64) {
        let k = key as usize;
        let newest = |v: &[u32], n: usize| v.iter().rev().take(n).map(|&j| (j, 0)).collect::<Vec<_>>();
        match reason {
            Reason::Followee => {
                let v = &self.posts_by[k];
                let n = self.spec.posts_per_followee as usize;
                (Entry { items: newest(v, n), total: v.len().min(n) as u32, asof: 0 }, v.len() as u64)
            }
            Reason::Location => {
                let v = &self.jobs_by_location[k];
                (Entry { items: newest(v, keep), total: v.len() as u32, asof: 0 }, v.len() as u64)
            }
            // Every job with the skill: a user's list scores the union of their skills' lists.
            Reason::Skills => {
                let v = &self.jobs_by_skill[k];
                (Entry { items: newest(v, v.len()), total: v.len() as u32, asof: 0 }, v.len() as u64)
            }
            Reason::CoApplied => {
                let p = &self.partners[k];
                let mut items: Vec<(u32, u32)> =
                    p.iter().filter(|&(_, &n)| n >= self.spec.min_support).map(|(&j, &n)| (j, n)).collect();
                items.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                let total = items.len() as u32;
                (Entry { items, total, asof: 0 }, p.len() as u64)
            }
            // The counter's top (an ORDER BY over every job's counter when computed on request).
            Reason::Popularity => {
                let items = self.counts.top(keep).map(|(j, n)| (j as u32, n as u32)).collect();
                let e = Entry { items, total: self.counts.len() as u32, asof: self.apps.len() as u32 };
                (e, self.jobs.len() as u64)
            }
        }
    }

    /// Rows read for the user's own row (follows or applications) before the entities.
    pub fn own_rows(&self, reason: Reason, user: u32) -> u64 {
        match reason {
            Reason::Followee => self.users[user as usize].follows.len() as u64,
            Reason::CoApplied => self.apps_by_user[user as usize].len() as u64,
            _ => 1,
        }
    }
}

/// One entity's precomputed list: `(job, score)` best first, how many candidates it has, and for
/// popularity the applications the counter had counted.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub items: Vec<(u32, u32)>,
    pub total: u32,
    pub asof: u32,
}

impl Entry {
    pub fn bytes(&self) -> u64 {
        16 + 8 * self.items.len() as u64
    }
}

/// A user's list for a reason: the best `fetch` jobs, and the number of distinct candidates.
#[derive(Clone, Debug, PartialEq)]
pub struct Ranked5 {
    pub jobs: Vec<u32>,
    pub candidates: u32,
    pub asof: u32,
}

/// Merges a user's entities into the reason's list for them. Every job gets one score, unique to
/// it (the job id is in its low 32 bits), and the list is the `fetch` best scores. The followee
/// and skill entities list their jobs newest first, so their concatenation is a few sorted runs:
/// the standard library's stable sort finds the runs and merges them in linear time.
pub fn merge<E: Borrow<Entry>>(t: &Tables, reason: Reason, user: u32, entries: &[E], fetch: usize) -> Ranked5 {
    let items = || entries.iter().flat_map(|e| &e.borrow().items);
    let mut scored: Vec<(u64, u32)> = match reason {
        Reason::Location | Reason::Popularity => {
            let e = entries.first().map(Borrow::borrow);
            return Ranked5 {
                jobs: e.map(|e| e.items.iter().take(fetch).map(|&(j, _)| j).collect()).unwrap_or_default(),
                candidates: e.map(|e| e.total).unwrap_or(0),
                asof: e.map(|e| e.asof).unwrap_or(0),
            };
        }
        // Newest first: the score is the job id.
        Reason::Followee => {
            let mut jobs: Vec<u32> = items().map(|&(j, _)| j).collect();
            jobs.sort();
            jobs.dedup();
            jobs.into_iter().map(|j| (j as u64, j)).collect()
        }
        // The overlap of skills, then the newest.
        Reason::Skills => {
            let mut jobs: Vec<u32> = items().map(|&(j, _)| j).collect();
            jobs.sort();
            jobs.chunk_by(|a, b| a == b).map(|same| ((same.len() as u64) << 32 | same[0] as u64, same[0])).collect()
        }
        // Support summed over the user's applications, then the oldest; not the jobs applied to
        // already.
        Reason::CoApplied => {
            let own = &t.apps_by_user[user as usize];
            let mut pairs: Vec<(u32, u32)> = items().filter(|(j, _)| !own.contains(j)).copied().collect();
            pairs.sort_unstable_by_key(|&(j, _)| j);
            pairs
                .chunk_by(|a, b| a.0 == b.0)
                .map(|same| {
                    let (j, support) = (same[0].0, same.iter().map(|&(_, n)| n as u64).sum::<u64>());
                    ((support << 32) + (u32::MAX - j) as u64, j)
                })
                .collect()
        }
    };
    let candidates = scored.len() as u32;
    parts::rank::keep_first(&mut scored, fetch, |a, b| b.cmp(a));
    Ranked5 { candidates, jobs: scored.into_iter().map(|(_, j)| j).collect(), asof: 0 }
}

/// The page: each reason's list in, `show` a reason out. With `dedup` a job shows once, and the
/// page is an assignment of distinct jobs to the reasons' slots: first the reasons that can fill
/// their `show`, the one with the fewest candidates first, get as many jobs as any assignment
/// could give them (augmenting paths: a reason that needs a job another holds takes it when the
/// other can move to one of its own spare candidates), then the reasons that cannot fill theirs
/// get as many of what is left as they can, the first reasons keeping all they had. Then each
/// reason moves up to its best candidates no other reason shows, so its part of the page is its
/// own list in rank order, skipping only jobs shown under other reasons. So a reason with `show`
/// candidates gets them unless reasons that also need every one of their own leave too few
/// distinct jobs for all (two reasons of exactly `show` candidates sharing one). Without
/// `dedup`, each reason's first `show`. `(reason index, job)` in reason order.
pub fn assemble(lists: &[Option<Vec<u32>>; REASONS], show: usize, dedup: bool) -> Vec<(u8, u32)> {
    let list = |r: usize| lists[r].as_deref().unwrap_or(&[]);
    let mut taken: Vec<Vec<u32>> = vec![Vec::new(); REASONS];
    if !dedup {
        for (r, t) in taken.iter_mut().enumerate() {
            *t = list(r).iter().take(show).copied().collect();
        }
    } else {
        let mut page = Assignment { lists: std::array::from_fn(list), holder: BTreeMap::new(), held: [0; REASONS] };
        // Those that can fill `show` first, fewest candidates first (a slot once filled stays
        // filled), then the others.
        let mut order: Vec<usize> = (0..REASONS).collect();
        order.sort_by_key(|&r| (list(r).len() < show, list(r).len(), r));
        for r in order {
            for _ in 0..show.min(list(r).len()) {
                page.augment(r, &mut BTreeSet::new());
            }
        }
        page.move_up();
        for (&job, &r) in &page.holder {
            taken[r].push(job);
        }
        for (r, t) in taken.iter_mut().enumerate() {
            t.sort_by_key(|j| list(r).iter().position(|x| x == j));
        }
    }
    taken.into_iter().enumerate().flat_map(|(r, v)| v.into_iter().map(move |j| (r as u8, j))).collect()
}

/// A page being assembled: which reason holds each job on it.
struct Assignment<'a> {
    lists: [&'a [u32]; REASONS],
    holder: BTreeMap<u32, usize>,
    held: [usize; REASONS],
}

impl Assignment<'_> {
    /// One more job for reason `r`, moving others along an augmenting path if need be: a job
    /// no one holds, or one whose holder can take another instead. Every reason keeps its count.
    fn augment(&mut self, r: usize, seen: &mut BTreeSet<u32>) -> bool {
        for &job in self.lists[r] {
            if !seen.insert(job) {
                continue;
            }
            let free = match self.holder.get(&job) {
                None => true,
                Some(&o) if o == r => false,
                Some(&o) => {
                    // `o` takes another job, then gives this one up.
                    let moved = self.augment(o, seen);
                    if moved {
                        self.held[o] -= 1;
                    }
                    moved
                }
            };
            if free {
                self.holder.insert(job, r);
                self.held[r] += 1;
                return true;
            }
        }
        false
    }

    /// Each reason trades its jobs for its best ones no reason holds, keeping its count, until
    /// none can improve: each trade moves a reason to better-ranked jobs, so this ends.
    fn move_up(&mut self) {
        let mut moved = true;
        while moved {
            moved = false;
            for r in 0..REASONS {
                let holder = &self.holder;
                let best: Vec<u32> = self.lists[r]
                    .iter()
                    .copied()
                    .filter(|j| holder.get(j).is_none_or(|&h| h == r))
                    .take(self.held[r])
                    .collect();
                if best.iter().any(|j| !holder.contains_key(j)) {
                    self.holder.retain(|_, h| *h != r);
                    self.holder.extend(best.into_iter().map(|j| (j, r)));
                    moved = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::rng::Stream;

    fn world() -> Tables {
        Tables::generate(&WorldSpec::default(), &mut Prng::new(3, Stream::Setup))
    }

    /// Each reason's list, from cached entities, equals a brute-force scan of the tables.
    #[test]
    fn merged_lists_equal_a_brute_force_scan() {
        let t = world();
        assert_eq!(t.apps.len(), 8000);
        for user in (0..t.users.len() as u32).step_by(97) {
            let u = &t.users[user as usize];
            let lists: Vec<Ranked5> = Reason::ALL
                .iter()
                .map(|&r| {
                    let es: Vec<Entry> = t.entities(r, user).iter().map(|&k| t.entry(r, k, 1000).0).collect();
                    let all = merge(&t, r, user, &es, 10_000);
                    // A short list is the head of the whole one, of as many candidates.
                    for fetch in [0, 1, 7] {
                        let head = merge(&t, r, user, &es, fetch);
                        assert_eq!(head.jobs[..], all.jobs[..fetch.min(all.jobs.len())], "{r:?}, fetch {fetch}");
                        assert_eq!(head.candidates, all.candidates);
                    }
                    all
                })
                .collect();
            // Followee: the newest 5 jobs of each followee.
            let mut want: Vec<u32> =
                u.follows.iter().flat_map(|&f| t.posts_by[f as usize].iter().rev().take(5)).copied().collect();
            want.sort_unstable_by(|a, b| b.cmp(a));
            assert_eq!(lists[0].jobs, want);
            // Location: every job there, newest first.
            let want: Vec<u32> =
                (0..t.jobs.len() as u32).rev().filter(|&j| t.jobs[j as usize].location == u.location).collect();
            assert_eq!(lists[1].jobs, want);
            // Skills: every job sharing a skill, by overlap then newest.
            let mut want: Vec<(usize, u32)> = (0..t.jobs.len() as u32)
                .map(|j| (t.jobs[j as usize].skills.iter().filter(|s| u.skills.contains(s)).count(), j))
                .filter(|&(n, _)| n > 0)
                .collect();
            want.sort_by(|a, b| b.cmp(a));
            assert_eq!(lists[2].jobs, want.iter().map(|&(_, j)| j).collect::<Vec<_>>());
            // Co-applied: pairs counted from the applications directly.
            let own = &t.apps_by_user[user as usize];
            let mut pair: BTreeMap<(u32, u32), u32> = BTreeMap::new();
            for apps in &t.apps_by_user {
                for &a in apps {
                    for &b in apps {
                        if a != b {
                            *pair.entry((a, b)).or_insert(0) += 1;
                        }
                    }
                }
            }
            let mut sup: BTreeMap<u32, u32> = BTreeMap::new();
            for (&(a, b), &n) in &pair {
                if own.contains(&a) && !own.contains(&b) && n >= 2 {
                    *sup.entry(b).or_insert(0) += n;
                }
            }
            let mut want: Vec<(u32, u32)> = sup.into_iter().collect();
            want.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            assert_eq!(lists[3].jobs, want.iter().map(|&(j, _)| j).collect::<Vec<_>>());
            assert_eq!(lists[4].asof, 8000);
        }
    }

    #[test]
    fn dedup_takes_turns_and_keeps_scarce_reasons() {
        let l = |v: &[u32]| Some(v.to_vec());
        let lists = [l(&[1, 2, 3, 4, 5, 6]), l(&[1, 2, 3, 4, 5]), None, l(&[9, 1, 2, 8, 7, 6, 5, 4, 3]), l(&[])];
        let page = assemble(&lists, 5, true);
        let mut jobs: Vec<u32> = page.iter().map(|&(_, j)| j).collect();
        let n = jobs.len();
        jobs.sort_unstable();
        jobs.dedup();
        assert_eq!(jobs.len(), n, "no job twice");
        let per = |r: u8| page.iter().filter(|p| p.0 == r).count();
        // The reason with 5 candidates goes first and keeps all 5; the others get what is left
        // (nine distinct jobs in all).
        assert_eq!(per(1), 5);
        assert_eq!((per(0), per(2), per(4)), (1, 0, 0));
        assert_eq!(per(3), 3);
        assert_eq!(page.iter().filter(|p| p.0 == 3).map(|p| p.1).collect::<Vec<_>>(), vec![9, 8, 7]);
        // Seed 292 of `jobrec.ron` (sweep 280..304): a reason of 5 candidates and one of 4 share
        // a job. Fewest first gave it to the one of 4 (which shows 4 either way) and left the one
        // of 5 with 4; now the one that can fill its 5 takes it.
        let shared = [l(&[10, 11, 12, 13, 14, 15]), l(&[1, 2, 3, 4, 5]), None, l(&[5, 6, 7, 8]), None];
        let page = assemble(&shared, 5, true);
        let per = |r: u8| page.iter().filter(|p| p.0 == r).count();
        assert_eq!((per(0), per(1), per(3)), (5, 5, 3));
        // Reasons of 6, 10 and 11 candidates over 19 jobs: taking each one's best free jobs in
        // turn (the assembler before seed 2001's sweep) left the last with 4; an assignment gives
        // every one its 5, the one of 11 moving 4 of the others to their spare candidates.
        let crowded = [
            None,
            l(&[15, 9, 6, 7, 0, 1, 2, 16, 12, 5, 8]),
            None,
            l(&[2, 1, 16, 7, 4, 10, 5, 18, 11, 15]),
            l(&[5, 8, 12, 14, 1, 18]),
        ];
        let page = assemble(&crowded, 5, true);
        let per = |r: u8| page.iter().filter(|p| p.0 == r).count();
        assert_eq!((per(1), per(3), per(4)), (5, 5, 5), "{page:?}");
        // A reason with jobs to spare passes over those a scarce reason needs.
        let spare = [l(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), None, None, l(&[1, 2, 3]), None];
        let page = assemble(&spare, 5, true);
        let of = |r: u8| page.iter().filter(|p| p.0 == r).map(|p| p.1).collect::<Vec<_>>();
        assert_eq!((of(0), of(3)), (vec![4, 5, 6, 7, 8], vec![1, 2, 3]));
        // ... but not past what it needs itself: with 6, it spares one of the three.
        let tight = [l(&[1, 2, 3, 4, 5, 6]), None, None, l(&[1, 2, 3]), None];
        let page = assemble(&tight, 5, true);
        let of = |r: u8| page.iter().filter(|p| p.0 == r).map(|p| p.1).collect::<Vec<_>>();
        assert_eq!((of(0), of(3)), (vec![2, 3, 4, 5, 6], vec![1]));
        let raw = assemble(&lists, 5, false);
        assert_eq!(raw.len(), 15);
        assert!(raw.iter().filter(|p| p.1 == 1).count() == 3, "without dedup job 1 shows three times");
    }
}
