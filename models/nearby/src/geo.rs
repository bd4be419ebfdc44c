//! The design's geometry: points on a sphere, great-circle distance, the box around a circle, the
//! geohash grid (encode, neighbours, the cells a radius query visits) and a point quadtree that
//! splits a leaf at a capacity.
//!
//! Conventions: latitude in `[-90, 90]`, longitude in `[-180, 180]`, degrees; distances in km on
//! a sphere of the mean Earth radius (haversine). The geohash grid wraps at the antimeridian (the
//! east neighbour of the last column is the first column) and stops at the poles (a cell in the
//! top row has no northern neighbours; a circle that contains a pole covers every longitude).

use sim_core::math;
use std::collections::{BTreeMap, BTreeSet};

/// Mean Earth radius (IUGG), km.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// The longest geohash the index keeps: 12 characters, 60 bits.
pub const MAX_PRECISION: u8 = 12;

const BASE32: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub lat: f64,
    pub lon: f64,
}

impl Point {
    pub fn new(lat: f64, lon: f64) -> Point {
        Point { lat, lon }
    }
}

/// Great-circle distance (haversine), km.
pub fn distance_km(a: Point, b: Point) -> f64 {
    km_of_term(haversine_term(a, b, cos_lat(a), cos_lat(b)))
}

/// The haversine term `h` of `a` and `b` (`sin^2(dlat / 2) + cos(lat a) cos(lat b) sin^2(dlon /
/// 2)`), given the cosines of their latitudes ([`cos_lat`]).
#[inline]
fn haversine_term(a: Point, b: Point, cos_a: f64, cos_b: f64) -> f64 {
    let dlat = b.lat.to_radians() - a.lat.to_radians();
    let dlon = (b.lon - a.lon).to_radians();
    math::sin(dlat / 2.0).powi(2) + cos_a * cos_b * math::sin(dlon / 2.0).powi(2)
}

/// The great-circle distance, km, of a haversine term.
#[inline]
fn km_of_term(h: f64) -> f64 {
    2.0 * EARTH_RADIUS_KM * math::asin(h.sqrt().min(1.0))
}

/// The haversine term of a point `radius_km` away, `sin^2(r / 2R)`; `None` for radii near half
/// the globe, where a term's rounding is too coarse to decide by.
fn radius_term(radius_km: f64) -> Option<f64> {
    let theta = radius_km / (2.0 * EARTH_RADIUS_KM);
    (0.0..1.5).contains(&theta).then(|| math::sin(theta).powi(2))
}

/// The points within a radius of a centre: the same decision as `distance_km(p, centre) <=
/// radius_km`, bit for bit, at a fraction of its cost. The centre's cosine is taken once, and the
/// arcsine only for the points whose haversine term lies within a relative 1e-9 of the radius's
/// (`sin^2(r / 2R)`): elsewhere the comparison of the terms decides, since `2R asin(sqrt h)` is
/// increasing in `h` and its rounding (a few ulps) is far inside that margin.
#[derive(Clone, Copy, Debug)]
pub struct Circle {
    centre: Point,
    radius_km: f64,
    cos_lat: f64,
    /// `h` at or below this: inside; at or above `outside`: outside; between: `distance_km`
    /// decides. Both are NaN (every point to `distance_km`) for radii near half the globe.
    inside: f64,
    outside: f64,
}

impl Circle {
    pub fn new(centre: Point, radius_km: f64) -> Circle {
        let (inside, outside) =
            radius_term(radius_km).map_or((f64::NAN, f64::NAN), |t| (t * (1.0 - 1e-9), t * (1.0 + 1e-9)));
        Circle { centre, radius_km, cos_lat: cos_lat(centre), inside, outside }
    }

    /// Whether `distance_km(p, centre) <= radius_km`.
    #[inline]
    pub fn contains(&self, p: Point) -> bool {
        self.contains_at(p, cos_lat(p))
    }

    /// [`Circle::contains`] for a point whose [`cos_lat`] is known.
    #[inline]
    pub fn contains_at(&self, p: Point, cos_lat: f64) -> bool {
        // `distance_km(p, self.centre)`'s term, the arcsine only near the edge.
        let h = haversine_term(p, self.centre, cos_lat, self.cos_lat);
        if h <= self.inside {
            true
        } else if h >= self.outside {
            false
        } else {
            km_of_term(h) <= self.radius_km
        }
    }
}

/// A point with the cosine of its latitude, taken once: a circle's test needs it for every
/// candidate of every search (it was a fifth of `nearby_perf`'s run taken per test).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placed {
    pub at: Point,
    pub cos_lat: f64,
}

impl Placed {
    pub fn new(at: Point) -> Placed {
        Placed { at, cos_lat: cos_lat(at) }
    }
}

impl Circle {
    /// [`Circle::contains`] for a placed point.
    #[inline]
    pub fn contains_placed(&self, p: &Placed) -> bool {
        self.contains_at(p.at, p.cos_lat)
    }
}

/// A point as a unit vector from the Earth's centre. The chord between two points `d` apart is
/// `2 sin(d / 2R)`, so their haversine term is `(1 - a . b) / 2`: three
/// products and no sine. It is not `distance_km`'s rounding, so it only screens
/// ([`ChordScreen`]).
pub fn unit(p: Point) -> [f64; 3] {
    let (lat, lon) = (p.lat.to_radians(), p.lon.to_radians());
    let c = math::cos(lat);
    [c * math::cos(lon), c * math::sin(lon), math::sin(lat)]
}

/// A circle screened by chords: whether a point (as a [`unit`] vector) is clearly inside or
/// clearly outside, or near enough the edge to be measured. The chord's term, `(1 - a . b) / 2`,
/// is within a few 1e-16 of the haversine term; the screen leaves a margin of a relative 1e-6
/// and 1e-13 on either side of the circle's own `sin^2(r / 2R)`, so a point it decides is decided
/// the same by `distance_km`. Nothing is screened for radii near half the globe.
#[derive(Clone, Copy, Debug)]
pub struct ChordScreen {
    centre: [f64; 3],
    inside: f64,
    outside: f64,
}

impl ChordScreen {
    pub fn new(centre: Point, radius_km: f64) -> ChordScreen {
        let (inside, outside) = radius_term(radius_km)
            .map_or((f64::NEG_INFINITY, f64::INFINITY), |t| (t * (1.0 - 1e-6) - 1e-13, t * (1.0 + 1e-6) + 1e-13));
        ChordScreen { centre: unit(centre), inside, outside }
    }

    /// `Some(inside)` when the chord decides, `None` near the edge.
    #[inline]
    pub fn screen(&self, p: [f64; 3]) -> Option<bool> {
        let c = self.centre;
        let h = (1.0 - (p[0] * c[0] + p[1] * c[1] + p[2] * c[2])) / 2.0;
        if h < self.inside {
            Some(true)
        } else if h > self.outside {
            Some(false)
        } else {
            None
        }
    }
}

/// The cosine of a point's latitude, as `distance_km` takes it.
#[inline]
pub fn cos_lat(p: Point) -> f64 {
    math::cos(p.lat.to_radians())
}

/// Wraps a longitude into `[-180, 180)`.
pub fn wrap_lon(lon: f64) -> f64 {
    let w = (lon + 180.0).rem_euclid(360.0) - 180.0;
    if w.is_finite() { w } else { 0.0 }
}

/// Degrees a box is widened by, so that rounding never leaves a point of the circle outside it
/// (the distance filter decides; a box a hair too large only costs a look).
const BOX_SLACK_DEG: f64 = 1e-9;

/// The latitude/longitude box around a circle (Matuschek's bounds for a spherical cap): the
/// latitude band, and one or two longitude ranges (two when it crosses the antimeridian; one of
/// `[-180, 180]` when it contains a pole).
#[derive(Clone, Debug, PartialEq)]
pub struct GeoBox {
    pub lat: (f64, f64),
    pub lon: Vec<(f64, f64)>,
    /// Half the box's extent in latitude and longitude, degrees (longitude: 180 when it contains
    /// a pole).
    pub half_lat: f64,
    pub half_lon: f64,
}

pub fn circle_box(c: Point, radius_km: f64) -> GeoBox {
    let d = radius_km / EARTH_RADIUS_KM;
    let half_lat = d.to_degrees() + BOX_SLACK_DEG;
    let (lat_lo, lat_hi) = (c.lat - half_lat, c.lat + half_lat);
    if lat_lo <= -90.0 || lat_hi >= 90.0 || d >= std::f64::consts::FRAC_PI_2 {
        return GeoBox {
            lat: (lat_lo.max(-90.0), lat_hi.min(90.0)),
            lon: vec![(-180.0, 180.0)],
            half_lat,
            half_lon: 180.0,
        };
    }
    let s = math::sin(d) / math::cos(c.lat.to_radians());
    if s >= 1.0 {
        return GeoBox { lat: (lat_lo, lat_hi), lon: vec![(-180.0, 180.0)], half_lat, half_lon: 180.0 };
    }
    let half_lon = math::asin(s).to_degrees() + BOX_SLACK_DEG;
    let (lo, hi) = (c.lon - half_lon, c.lon + half_lon);
    let lon = if lo < -180.0 {
        vec![(lo + 360.0, 180.0), (-180.0, hi)]
    } else if hi > 180.0 {
        vec![(lo, 180.0), (-180.0, hi - 360.0)]
    } else {
        vec![(lo, hi)]
    };
    GeoBox { lat: (lat_lo, lat_hi), lon, half_lat, half_lon }
}

/// A geohash cell: its precision (characters) and its column `x` and row `y` on the grid of that
/// precision (`x` counts from longitude -180 eastwards, `y` from latitude -90 northwards).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cell {
    pub precision: u8,
    pub x: u64,
    pub y: u64,
}

/// Bits of longitude and of latitude in a geohash of `precision` characters (longitude takes the
/// odd bit: 5 characters are 13 longitude and 12 latitude bits).
pub fn grid_bits(precision: u8) -> (u32, u32) {
    let bits = 5 * precision as u32;
    (bits.div_ceil(2), bits / 2)
}

/// A cell's size in degrees: (height in latitude, width in longitude).
pub fn cell_degrees(precision: u8) -> (f64, f64) {
    let (lon_bits, lat_bits) = grid_bits(precision);
    (180.0 / (1u64 << lat_bits) as f64, 360.0 / (1u64 << lon_bits) as f64)
}

fn axis_index(v: f64, lo: f64, span: f64, bits: u32) -> u64 {
    let n = 1u64 << bits;
    let i = ((v - lo) / span * n as f64).floor();
    if i <= 0.0 { 0 } else { (i as u64).min(n - 1) }
}

impl Cell {
    /// The cell of precision `precision` holding `p`.
    pub fn of(p: Point, precision: u8) -> Cell {
        assert!((1..=MAX_PRECISION).contains(&precision), "geohash precision {precision} outside 1..=12");
        let (lon_bits, lat_bits) = grid_bits(precision);
        Cell { precision, x: axis_index(p.lon, -180.0, 360.0, lon_bits), y: axis_index(p.lat, -90.0, 180.0, lat_bits) }
    }

    /// The geohash as an integer of `5 * precision` bits: longitude and latitude bits interleaved,
    /// longitude first, most significant first.
    pub fn code(&self) -> u64 {
        let (lon_bits, lat_bits) = grid_bits(self.precision);
        let (mut xi, mut yi) = (lon_bits, lat_bits);
        let mut code = 0u64;
        for bit in 0..5 * self.precision as u32 {
            code <<= 1;
            if bit % 2 == 0 {
                xi -= 1;
                code |= (self.x >> xi) & 1;
            } else {
                yi -= 1;
                code |= (self.y >> yi) & 1;
            }
        }
        code
    }

    /// The cell of a geohash code (the inverse of [`Cell::code`]).
    pub fn from_code(code: u64, precision: u8) -> Cell {
        let (mut x, mut y) = (0u64, 0u64);
        let bits = 5 * precision as u32;
        for bit in 0..bits {
            let b = (code >> (bits - 1 - bit)) & 1;
            if bit % 2 == 0 {
                x = (x << 1) | b;
            } else {
                y = (y << 1) | b;
            }
        }
        Cell { precision, x, y }
    }

    /// The geohash string (base 32, `0-9b-hjkmnp-z`).
    pub fn hash(&self) -> String {
        let code = self.code();
        (0..self.precision as u32).rev().map(|i| BASE32[((code >> (5 * i)) & 31) as usize] as char).collect()
    }

    /// The cell of a geohash string (`None` for a character outside the alphabet or a length
    /// outside 1..=12).
    pub fn parse(hash: &str) -> Option<Cell> {
        let precision = u8::try_from(hash.len()).ok().filter(|p| (1..=MAX_PRECISION).contains(p))?;
        let mut code = 0u64;
        for ch in hash.bytes() {
            code = (code << 5) | BASE32.iter().position(|&b| b == ch)? as u64;
        }
        Some(Cell::from_code(code, precision))
    }

    /// The cell's centre.
    pub fn centre(&self) -> Point {
        let (h, w) = cell_degrees(self.precision);
        Point::new(-90.0 + (self.y as f64 + 0.5) * h, -180.0 + (self.x as f64 + 0.5) * w)
    }

    /// The cell `dx` columns east and `dy` rows north: wraps east-west at the antimeridian,
    /// `None` beyond a pole.
    pub fn offset(&self, dx: i64, dy: i64) -> Option<Cell> {
        let (lon_bits, lat_bits) = grid_bits(self.precision);
        let y = self.y as i64 + dy;
        if y < 0 || y >= 1i64 << lat_bits {
            return None;
        }
        let x = (self.x as i64 + dx).rem_euclid(1i64 << lon_bits);
        Some(Cell { precision: self.precision, x: x as u64, y: y as u64 })
    }

    /// The eight neighbours, in the order n, ne, e, se, s, sw, w, nw (`None` beyond a pole).
    pub fn neighbours(&self) -> [Option<Cell>; 8] {
        [(0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1)].map(|(dx, dy)| self.offset(dx, dy))
    }

    /// The range of 60-bit codes (precision 12) inside this cell: a prefix range, as a database
    /// index on the geohash column reads it.
    pub fn code_range(&self) -> std::ops::Range<u64> {
        let shift = 5 * (MAX_PRECISION - self.precision) as u32;
        (self.code() << shift)..((self.code() + 1) << shift)
    }

    /// A key for a cache of cells: the precision above the code.
    pub fn key(&self) -> u64 {
        ((self.precision as u64) << 60) | self.code()
    }
}

/// How many rings of neighbours (east-west, north-south) around the centre cell cover a circle's
/// box at `precision`, wherever the centre lies in its cell: the box's half extent over the cell
/// size, rounded up.
pub fn rings(b: &GeoBox, precision: u8) -> (u64, u64) {
    let (h, w) = cell_degrees(precision);
    let (lon_bits, _) = grid_bits(precision);
    let kx = if b.half_lon >= 180.0 { 1u64 << lon_bits } else { (b.half_lon / w).ceil() as u64 };
    ((kx).min(1u64 << lon_bits), (b.half_lat / h).ceil() as u64)
}

/// The notes' rule: the longest geohash whose cell is at least as large as the radius in both
/// directions, so that the centre cell and its 8 neighbours cover the circle (1 when even
/// precision 1 needs more rings: a continent-sized radius).
pub fn precision_for(c: Point, radius_km: f64) -> u8 {
    let b = circle_box(c, radius_km);
    (1..=MAX_PRECISION)
        .rev()
        .find(|&p| {
            let (kx, ky) = rings(&b, p);
            kx <= 1 && ky <= 1
        })
        .unwrap_or(1)
}

/// The cells `(2 kx + 1) x (2 ky + 1)` around the centre cell of `c` (each once: rings that wrap
/// all the way round a row do not repeat cells), the centre first.
pub fn cells_around(c: Point, precision: u8, kx: u64, ky: u64) -> Vec<Cell> {
    let centre = Cell::of(c, precision);
    let (lon_bits, _) = grid_bits(precision);
    let kx = kx.min(1u64 << lon_bits) as i64;
    let mut seen = BTreeSet::new();
    let mut out = vec![centre];
    seen.insert((centre.x, centre.y));
    for dy in -(ky as i64)..=ky as i64 {
        for dx in -kx..=kx {
            if let Some(cell) = centre.offset(dx, dy)
                && seen.insert((cell.x, cell.y))
            {
                out.push(cell);
            }
        }
    }
    out
}

/// Businesses keyed by their 60-bit geohash: an ordered index (a B-tree on the geohash column), so
/// a cell of any precision is one range scan.
#[derive(Clone, Debug, Default)]
pub struct GeohashIndex {
    entries: BTreeSet<(u64, u32)>,
}

impl GeohashIndex {
    pub fn insert(&mut self, id: u32, p: Point) {
        self.entries.insert((Cell::of(p, MAX_PRECISION).code(), id));
    }

    /// The businesses in `cell`.
    pub fn cell(&self, cell: &Cell) -> Vec<u32> {
        let r = cell.code_range();
        self.entries.range((r.start, 0)..(r.end, 0)).map(|&(_, id)| id).collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of the rows: an 8-byte geohash and a 4-byte id each (the B-tree's own overhead is
    /// not counted).
    pub fn row_bytes(&self) -> u64 {
        self.entries.len() as u64 * 12
    }
}

/// A region quadtree over points: a leaf holds up to `capacity` ids and splits into four
/// quadrants when one more arrives (down to `max_depth`, below which a leaf grows past the
/// capacity: many businesses at one spot).
#[derive(Clone, Debug)]
pub struct QuadTree {
    nodes: Vec<QNode>,
    capacity: usize,
    max_depth: u8,
    leaves: usize,
}

#[derive(Clone, Debug)]
struct QNode {
    lat: (f64, f64),
    lon: (f64, f64),
    depth: u8,
    kind: QKind,
}

#[derive(Clone, Debug)]
enum QKind {
    Leaf(Vec<(u32, Point)>),
    Inner([u32; 4]),
}

/// What a quadtree query touched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuadVisit {
    /// Nodes whose box intersected the query's (inner and leaf).
    pub nodes: u64,
    /// Of them, leaves.
    pub leaves: u64,
    /// Entries in those leaves (each looked at).
    pub ids: Vec<u32>,
}

impl QuadTree {
    pub fn new(capacity: u32, max_depth: u8) -> QuadTree {
        QuadTree {
            nodes: vec![QNode { lat: (-90.0, 90.0), lon: (-180.0, 180.0), depth: 0, kind: QKind::Leaf(Vec::new()) }],
            capacity: capacity.max(1) as usize,
            max_depth,
            leaves: 1,
        }
    }

    fn child_of(n: &QNode, p: Point) -> usize {
        let mid_lat = (n.lat.0 + n.lat.1) / 2.0;
        let mid_lon = (n.lon.0 + n.lon.1) / 2.0;
        (usize::from(p.lat >= mid_lat) << 1) | usize::from(p.lon >= mid_lon)
    }

    pub fn insert(&mut self, id: u32, p: Point) {
        let mut i = 0usize;
        while let QKind::Inner(children) = &self.nodes[i].kind {
            i = children[Self::child_of(&self.nodes[i], p)] as usize;
        }
        let QKind::Leaf(entries) = &mut self.nodes[i].kind else { unreachable!("a leaf") };
        entries.push((id, p));
        if entries.len() > self.capacity && self.nodes[i].depth < self.max_depth {
            self.split(i);
        }
    }

    fn split(&mut self, i: usize) {
        let (lat, lon, depth) = (self.nodes[i].lat, self.nodes[i].lon, self.nodes[i].depth);
        let QKind::Leaf(entries) = std::mem::replace(&mut self.nodes[i].kind, QKind::Inner([0; 4])) else {
            unreachable!("split a leaf")
        };
        let (mid_lat, mid_lon) = ((lat.0 + lat.1) / 2.0, (lon.0 + lon.1) / 2.0);
        let first = self.nodes.len() as u32;
        for q in 0..4 {
            let lat = if q & 2 == 0 { (lat.0, mid_lat) } else { (mid_lat, lat.1) };
            let lon = if q & 1 == 0 { (lon.0, mid_lon) } else { (mid_lon, lon.1) };
            self.nodes.push(QNode { lat, lon, depth: depth + 1, kind: QKind::Leaf(Vec::new()) });
        }
        self.nodes[i].kind = QKind::Inner([first, first + 1, first + 2, first + 3]);
        self.leaves += 3;
        let parent = self.nodes[i].clone();
        for (id, p) in entries {
            let c = first as usize + Self::child_of(&parent, p);
            if let QKind::Leaf(v) = &mut self.nodes[c].kind {
                v.push((id, p));
            }
        }
        // A quadrant that got every entry splits again.
        for c in first as usize..first as usize + 4 {
            if matches!(&self.nodes[c].kind, QKind::Leaf(v) if v.len() > self.capacity) && depth + 1 < self.max_depth {
                self.split(c);
            }
        }
    }

    /// The entries of every leaf whose box meets `b`.
    pub fn query(&self, b: &GeoBox) -> QuadVisit {
        let mut v = QuadVisit::default();
        let mut stack = vec![0usize];
        while let Some(i) = stack.pop() {
            let n = &self.nodes[i];
            let meets_lat = n.lat.0 <= b.lat.1 && b.lat.0 <= n.lat.1;
            if !meets_lat || !b.lon.iter().any(|&(lo, hi)| n.lon.0 <= hi && lo <= n.lon.1) {
                continue;
            }
            v.nodes += 1;
            match &n.kind {
                QKind::Inner(children) => stack.extend(children.iter().rev().map(|&c| c as usize)),
                QKind::Leaf(entries) => {
                    v.leaves += 1;
                    v.ids.extend(entries.iter().map(|&(id, _)| id));
                }
            }
        }
        v
    }

    pub fn leaves(&self) -> usize {
        self.leaves
    }

    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Entries per leaf: the most in one leaf.
    pub fn fullest_leaf(&self) -> usize {
        self.nodes
            .iter()
            .map(|n| match &n.kind {
                QKind::Leaf(v) => v.len(),
                QKind::Inner(_) => 0,
            })
            .max()
            .unwrap_or(0)
    }

    /// Bytes of the structure: per node its box (4 x 8) and depth, per entry an id and a point
    /// (4 + 16), per inner node four child indices (4 x 4).
    pub fn bytes(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| {
                33 + match &n.kind {
                    QKind::Leaf(v) => 20 * v.len() as u64,
                    QKind::Inner(_) => 16,
                }
            })
            .sum()
    }

    /// Leaves by depth (for the report's histogram of the tree's shape).
    pub fn leaves_by_depth(&self) -> BTreeMap<u8, u64> {
        let mut m = BTreeMap::new();
        for n in &self.nodes {
            if matches!(n.kind, QKind::Leaf(_)) {
                *m.entry(n.depth).or_insert(0) += 1;
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(lat: f64, lon: f64, p: u8) -> String {
        Cell::of(Point::new(lat, lon), p).hash()
    }

    #[test]
    fn encodes_the_published_geohashes() {
        // Wikipedia's example (geohash.org's original): 57.64911, 10.40744 -> u4pruydqqvj.
        assert_eq!(hash(57.64911, 10.40744, 11), "u4pruydqqvj");
        // The R geohash package's vignette: gh_encode(42.60498046875, -5.60302734375, 5) = "ezs42".
        assert_eq!(hash(42.60498046875, -5.60302734375, 5), "ezs42");
        assert_eq!(hash(42.6, -5.6, 5), "ezs42");
        // Prefixes are the coarser cells.
        assert_eq!(hash(57.64911, 10.40744, 4), "u4pr");
        assert_eq!(Cell::parse("u4pruydqqvj").map(|c| c.hash()), Some("u4pruydqqvj".into()));
        assert_eq!(Cell::parse("ezs4a"), None, "a is not in the alphabet");
        assert_eq!(Cell::parse(""), None);
    }

    #[test]
    fn a_cell_contains_its_centre_and_codes_round_trip() {
        for p in 1..=MAX_PRECISION {
            let c = Cell::of(Point::new(-33.8688, 151.2093), p);
            assert_eq!(Cell::of(c.centre(), p), c);
            assert_eq!(Cell::from_code(c.code(), p), c);
            assert_eq!(Cell::parse(&c.hash()), Some(c));
        }
    }

    fn neighbour_hashes(h: &str) -> Vec<String> {
        Cell::parse(h).unwrap().neighbours().iter().map(|c| c.map(|c| c.hash()).unwrap_or_default()).collect()
    }

    #[test]
    fn neighbours_match_the_published_ones_across_cell_edges() {
        // R geohash's gh_neighbours("ezs42"): n ne e se s sw w nw. The western ones cross into
        // the parent cell "eze": a neighbour across a coarser cell's edge shares no prefix.
        assert_eq!(neighbour_hashes("ezs42"), ["ezs48", "ezs49", "ezs43", "ezs41", "ezs40", "ezefp", "ezefr", "ezefx"]);
        // The Rust geohash crate's docs: neighbors("9q60y60rhs").
        assert_eq!(
            neighbour_hashes("9q60y60rhs"),
            [
                "9q60y60rht",
                "9q60y60rhv",
                "9q60y60rhu",
                "9q60y60rhg",
                "9q60y60rhe",
                "9q60y60rh7",
                "9q60y60rhk",
                "9q60y60rhm"
            ]
        );
    }

    #[test]
    fn neighbours_wrap_at_the_antimeridian_and_stop_at_the_poles() {
        // The last column's east neighbour is the first column.
        let east_edge = Cell::of(Point::new(0.1, 179.99), 3);
        let e = east_edge.neighbours()[2].unwrap();
        assert_eq!(e.x, 0);
        assert_eq!(e, Cell::of(Point::new(0.1, -179.99), 3));
        let w = Cell::of(Point::new(0.1, -179.99), 3).neighbours()[6].unwrap();
        assert_eq!(w, east_edge);
        // The top row has no northern neighbours; the bottom row no southern ones.
        let top = Cell::of(Point::new(89.99, 10.0), 4).neighbours();
        assert_eq!(top.iter().filter(|c| c.is_none()).count(), 3);
        assert!(top[0].is_none() && top[1].is_none() && top[7].is_none());
        let bottom = Cell::of(Point::new(-89.99, 10.0), 4).neighbours();
        assert!(bottom[3].is_none() && bottom[4].is_none() && bottom[5].is_none());
        // Rings that go all the way round a row list each cell once.
        let all = cells_around(Point::new(0.0, 0.0), 1, 100, 0);
        assert_eq!(all.len(), 8, "precision 1 has 8 columns");
    }

    #[test]
    fn distance_matches_known_values() {
        // One degree of latitude: pi R / 180.
        let d = distance_km(Point::new(0.0, 0.0), Point::new(1.0, 0.0));
        assert!((d - 111.195).abs() < 0.01, "{d}");
        // Across the antimeridian the short way round.
        let d = distance_km(Point::new(0.0, 179.5), Point::new(0.0, -179.5));
        assert!((d - 111.195).abs() < 0.01, "{d}");
        // Paris - London, about 344 km.
        let d = distance_km(Point::new(48.8566, 2.3522), Point::new(51.5074, -0.1278));
        assert!((d - 343.5).abs() < 2.0, "{d}");
    }

    /// The point `d` (radians of arc) from `c` on the bearing `brg` (radians).
    fn at_bearing(c: Point, d: f64, brg: f64) -> Point {
        let (sin, cos) = (math::sin, math::cos);
        let (la, lo) = (c.lat.to_radians(), c.lon.to_radians());
        let lat = math::asin((sin(la) * cos(d) + cos(la) * sin(d) * cos(brg)).clamp(-1.0, 1.0));
        let lon = lo + math::atan2(sin(brg) * sin(d) * cos(la), cos(d) - sin(la) * sin(lat));
        Point::new(lat.to_degrees(), wrap_lon(lon.to_degrees()))
    }

    /// The chord screen decides a point only as `distance_km` does: on points from a hair to far
    /// either side of the circle, at the poles and the antimeridian, for radii from zero to beyond
    /// half the globe; and it decides every point not near the edge.
    #[test]
    fn the_chord_screen_decides_only_as_the_haversine_does() {
        let mut rng = sim_core::rng::Prng::new(12, sim_core::rng::Stream::Setup);
        let (mut decided, mut far, mut far_decided) = (0u64, 0u64, 0u64);
        let centres =
            [Point::new(40.7128, -74.006), Point::new(-16.85, 179.98), Point::new(89.99, 10.0), Point::new(0.0, 0.0)];
        for c in centres {
            for r in [0.0, 1e-6, 0.05, 0.5, 5.0, 50.0, 3000.0, 19000.0, 20015.0, 25000.0] {
                let screen = ChordScreen::new(c, r);
                for _ in 0..400 {
                    let k = rng.below(21) as f64 - 10.0;
                    let scale = [1e-13, 1e-9, 1e-7, 1e-6, 1e-5, 1e-3, 0.05][rng.below(7) as usize];
                    let d = r * (1.0 + k * scale) / EARTH_RADIUS_KM;
                    let p = at_bearing(c, d, rng.unit() * std::f64::consts::TAU);
                    let exact = distance_km(p, c) <= r;
                    let got = screen.screen(unit(p));
                    if let Some(inside) = got {
                        assert_eq!(inside, exact, "{p:?} at {} km from {c:?}, r {r}", distance_km(p, c));
                        decided += 1;
                    }
                    // A point 5% or more off the radius (of 5 m or more) is decided below a
                    // quarter of the globe.
                    if (k * scale).abs() >= 0.05 && (0.1..=5000.0).contains(&r) {
                        far += 1;
                        far_decided += got.is_some() as u64;
                    }
                }
            }
        }
        assert!(far > 500 && far_decided == far, "{far_decided} of {far} far points decided");
        assert!(decided > 3000, "{decided} decided");
    }

    /// `Circle::contains` is `distance_km(p, centre) <= r` exactly: on points a hair either side
    /// of the circle (where only the arcsine can tell), on points far in and out, at the poles
    /// and the antimeridian, and for radii from zero to beyond half the globe.
    #[test]
    fn a_circle_decides_as_the_haversine_does() {
        let mut rng = sim_core::rng::Prng::new(11, sim_core::rng::Stream::Setup);
        let mut judged = 0u64;
        let mut inside = 0u64;
        let centres =
            [Point::new(40.7128, -74.006), Point::new(-16.85, 179.98), Point::new(89.99, 10.0), Point::new(0.0, 0.0)];
        for c in centres {
            for r in [0.0, 1e-6, 0.5, 1.0, 2.0, 5.0, 50.0, 3000.0, 19000.0, 20015.0, 25000.0] {
                let circle = Circle::new(c, r);
                for _ in 0..400 {
                    // A point at the radius times (1 + k 1e-13 .. 1 + k 1e-3), on a random bearing.
                    let k = rng.below(21) as f64 - 10.0;
                    let scale = [1e-13, 1e-11, 1e-9, 1e-6, 1e-3][rng.below(5) as usize];
                    let d = r * (1.0 + k * scale) / EARTH_RADIUS_KM;
                    let p = at_bearing(c, d, rng.unit() * std::f64::consts::TAU);
                    let exact = distance_km(p, c) <= r;
                    assert_eq!(circle.contains(p), exact, "{p:?} at {} km from {c:?}, r {r}", distance_km(p, c));
                    assert_eq!(circle.contains_at(p, cos_lat(p)), exact);
                    judged += 1;
                    inside += exact as u64;
                }
            }
        }
        assert!(inside > judged / 4 && inside < judged * 3 / 4, "{inside} of {judged} inside");
    }

    #[test]
    fn the_box_holds_the_circle_and_splits_at_the_antimeridian() {
        let c = Point::new(-18.1, 179.9);
        let b = circle_box(c, 50.0);
        assert_eq!(b.lon.len(), 2);
        // Points on the circle, all around, are inside the box.
        for k in 0..360 {
            let p = at_bearing(c, 49.999 / EARTH_RADIUS_KM, (k as f64).to_radians());
            assert!(distance_km(c, p) <= 50.0);
            assert!(b.lat.0 <= p.lat && p.lat <= b.lat.1);
            assert!(b.lon.iter().any(|&(lo, hi)| lo <= p.lon && p.lon <= hi), "{p:?} outside {b:?}");
        }
        // A circle around a pole covers every longitude.
        assert_eq!(circle_box(Point::new(89.9, 0.0), 20.0).lon, vec![(-180.0, 180.0)]);
    }

    #[test]
    fn precision_follows_the_radius() {
        // The notes' table (0.5 km -> 6, 1 and 2 km -> 5, 5 km -> 4), recomputed at 40 N: the
        // largest cell size at least the radius both ways. 20 km needs precision 3 (a precision-4
        // cell is 19.5 km tall: the published table's 4 would need a second ring).
        let at = |r| precision_for(Point::new(40.0, -74.0), r);
        assert_eq!([0.5, 1.0, 2.0, 5.0, 20.0].map(at), [6, 5, 5, 4, 3]);
        // The chosen precision's 3 x 3 block always covers the circle's box.
        for r in [0.1, 0.5, 1.0, 3.0, 10.0, 40.0] {
            let c = Point::new(40.0, -74.0);
            let (kx, ky) = rings(&circle_box(c, r), precision_for(c, r));
            assert!(kx <= 1 && ky <= 1);
        }
    }

    #[test]
    fn a_geohash_cell_is_a_range_of_the_index() {
        let mut ix = GeohashIndex::default();
        let pts = [Point::new(42.6, -5.6), Point::new(42.61, -5.59), Point::new(42.7, -5.6), Point::new(-42.6, 5.6)];
        for (i, p) in pts.iter().enumerate() {
            ix.insert(i as u32, *p);
        }
        assert_eq!(ix.cell(&Cell::parse("ezs42").unwrap()), vec![0, 1]);
        assert_eq!(ix.cell(&Cell::parse("ezs").unwrap()), vec![0, 1, 2]);
        assert_eq!(ix.len(), 4);
        assert_eq!(ix.row_bytes(), 48);
    }

    #[test]
    fn a_quadtree_leaf_splits_past_its_capacity_and_queries_find_every_point() {
        let mut t = QuadTree::new(4, 30);
        let mut pts = Vec::new();
        for i in 0..40u32 {
            let p = Point::new(10.0 + (i % 7) as f64 * 0.01, 20.0 + (i / 7) as f64 * 0.01);
            pts.push(p);
            t.insert(i, p);
        }
        assert!(t.leaves() > 10, "40 points at capacity 4 split into many leaves: {}", t.leaves());
        assert_eq!(t.nodes(), 1 + 4 * (t.leaves() - 1) / 3);
        assert!(t.fullest_leaf() <= 4);
        // Every point within 2 km of a centre is in a visited leaf.
        let c = Point::new(10.03, 20.03);
        let v = t.query(&circle_box(c, 2.0));
        for (i, p) in pts.iter().enumerate() {
            if distance_km(c, *p) <= 2.0 {
                assert!(v.ids.contains(&(i as u32)));
            }
        }
        assert!(v.ids.len() < 40 && v.leaves < t.leaves() as u64, "the query does not scan everything");
        // The same spot over and over stops splitting at max_depth.
        let mut t = QuadTree::new(2, 5);
        for i in 0..10 {
            t.insert(i, Point::new(1.0, 1.0));
        }
        assert_eq!(t.fullest_leaf(), 10);
    }

    #[test]
    fn a_quadtree_query_across_the_antimeridian_finds_both_sides() {
        let mut t = QuadTree::new(1, 30);
        t.insert(0, Point::new(-18.0, 179.95));
        t.insert(1, Point::new(-18.0, -179.95));
        t.insert(2, Point::new(-18.0, 170.0));
        let v = t.query(&circle_box(Point::new(-18.0, 179.99), 20.0));
        assert!(v.ids.contains(&0) && v.ids.contains(&1) && !v.ids.contains(&2));
    }
}
