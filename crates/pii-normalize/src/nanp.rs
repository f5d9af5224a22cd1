//! Exact, fast validity of 10-digit NANP national numbers.
//!
//! `phonenumber` decides whether a national number `n` of country calling code 1 is valid with
//! regular expressions from libphonenumber's metadata (`validator::is_valid_with`):
//!
//! 1. the *source region* is the first region of code 1 (in database order: US, AG, AI, ...)
//!    whose `leading_digits` pattern matches at the start of `n`, or, for a region without
//!    `leading_digits`, whose number type for `n` is not `Unknown`;
//! 2. `n` is valid when its number type in the source region is not `Unknown`: the region's
//!    general descriptor matches and one of the premium-rate, toll-free, shared-cost, VoIP,
//!    personal, pager, UAN, voicemail, fixed-line or mobile descriptors matches.
//!
//! A descriptor "matches" when `n`'s length is one of its possible lengths (if it lists any)
//! and its regex finds a match starting at position 0 (`Regex::find(..).start() == 0`: a
//! *prefix* match, not a full match). Every condition is therefore "some prefix of `n` is in
//! the language of regex R".
//!
//! Those regexes are run through a global `Mutex`-protected LRU cache of 100 compiled regexes,
//! which is slow and serialises threads. Instead, this module compiles each of those regexes
//! (read from the same metadata, with the same syntax options) once into a DFA and runs all of
//! them in lock step over every 10-digit string, building a reduced decision DAG: node
//! `k` at depth `d` maps the next digit to a child, and leaves are "valid"/"invalid". The
//! DAG computes exactly the same boolean function of the 10 digits as the procedure above,
//! because it is built by running that procedure's own regexes, and lookups cost at most 10
//! array reads.
//!
//! Any failure to compile a pattern leaves the table unbuilt and every number goes through the
//! full `phonenumber` parse instead: slower, never wrong.

// The builder runs in the tests only (the table itself is precomputed).
#![cfg_attr(not(test), allow(dead_code))]

use std::collections::HashMap;
use std::sync::LazyLock;

use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::util::primitives::StateID;
use regex_automata::util::{start, syntax};
use regex_automata::{Anchored, MatchKind};

/// Length of a NANP national number.
const LEN: usize = 10;

/// The leaf "invalid".
const INVALID: u32 = 0;
/// The leaf "valid".
const VALID: u32 = 1;
/// Internal node ids start here; node `id` is `nodes[id - FIRST_NODE]`.
const FIRST_NODE: u32 = 2;

/// The decision DAG.
pub(crate) struct Table {
    nodes: Vec<[u32; 10]>,
    root: u32,
}

impl Table {
    /// Whether the 10 ASCII digits are a valid NANP national number.
    pub(crate) fn is_valid(&self, digits: &[u8; LEN]) -> bool {
        let mut node = self.root;
        for &d in digits {
            if node < FIRST_NODE {
                break;
            }
            let idx = (node - FIRST_NODE) as usize;
            let digit = usize::from(d.wrapping_sub(b'0'));
            match self.nodes.get(idx).and_then(|n| n.get(digit)) {
                Some(&next) => node = next,
                None => return false,
            }
        }
        node == VALID
    }

    /// Number of internal nodes (for tests and docs).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }
}

/// The table: the DAG [`build`] makes from `phonenumber`'s metadata, precomputed into
/// `nanp_table.rs` so that a process validates its first NANP number in microseconds instead of
/// loading the metadata and compiling its regexes (a few hundred milliseconds of start-up).
/// The test `the_precomputed_table_is_the_one_built_from_the_metadata` rebuilds it and fails
/// when a `phonenumber` upgrade changes it (`LIVERAMP_WRITE_NANP_TABLE=1` rewrites the file).
pub(crate) static TABLE: LazyLock<Option<Table>> = LazyLock::new(|| {
    Some(Table {
        nodes: super::nanp_table::NODES.to_vec(),
        root: super::nanp_table::ROOT,
    })
});

/// One component regex, compiled to a DFA that answers "does a prefix match?".
struct Component {
    dfa: dense::DFA<Vec<u32>>,
    start: StateID,
}

/// Where a component is in its run.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Run {
    /// Still running, in this DFA state.
    Live(StateID),
    /// Some prefix matched: true whatever follows.
    Matched,
    /// No extension can match: false whatever follows.
    Dead,
}

/// How one region's conditions map onto components.
struct Region {
    /// `leading_digits`, if the region has one.
    leading: Option<usize>,
    /// The general descriptor; `None` if its possible lengths exclude 10.
    general: Option<usize>,
    /// The union of the type descriptors `number_type` consults whose possible lengths allow
    /// 10; `None` if there are none.
    types: Option<usize>,
}

struct Builder {
    components: Vec<Component>,
    regions: Vec<Region>,
    memo: HashMap<(usize, Vec<Run>), u32>,
    interned: HashMap<(usize, [u32; 10]), u32>,
    nodes: Vec<[u32; 10]>,
}

fn allows_len(desc: &Descriptor) -> bool {
    desc.possible_length().is_empty()
        || desc
            .possible_length()
            .iter()
            .any(|&l| usize::from(l) == LEN)
}

fn compile(pattern: &str) -> Option<Component> {
    // `phonenumber` builds its regexes with `ignore_whitespace(true)` and otherwise default
    // options. `unicode(false)` only changes what `\d` means for non-ASCII digits, which never
    // occur in the ASCII digit strings this table is evaluated on.
    let dfa = dense::Builder::new()
        .configure(
            dense::DFA::config()
                .match_kind(MatchKind::All)
                .start_kind(StartKind::Anchored),
        )
        .syntax(
            syntax::Config::new()
                .ignore_whitespace(true)
                .unicode(false)
                .utf8(false),
        )
        .build(pattern)
        .ok()?;
    let start = dfa
        .start_state(&start::Config::new().anchored(Anchored::Yes))
        .ok()?;
    Some(Component { dfa, start })
}

/// The type descriptors `phonenumber::validator::number_type` consults, in its order.
fn type_descriptors(meta: &Metadata) -> impl Iterator<Item = &Descriptor> {
    let d = meta.descriptors();
    [
        d.premium_rate(),
        d.toll_free(),
        d.shared_cost(),
        d.voip(),
        d.personal_number(),
        d.pager(),
        d.uan(),
        d.voicemail(),
        d.fixed_line(),
        d.mobile(),
    ]
    .into_iter()
    .flatten()
}

fn builder() -> Option<Builder> {
    let mut components = Vec::new();
    let mut regions = Vec::new();
    let mut add = |pattern: &str| -> Option<usize> {
        components.push(compile(pattern)?);
        Some(components.len() - 1)
    };
    for id in DATABASE.region(&1)? {
        let meta = DATABASE.by_id(id)?;
        let leading = match meta.leading_digits() {
            Some(re) => Some(add(re.as_str())?),
            None => None,
        };
        let general_desc = meta.descriptors().general();
        let general = if allows_len(general_desc) {
            Some(add(general_desc.national_number().as_str())?)
        } else {
            None
        };
        let union: Vec<String> = type_descriptors(meta)
            .filter(|d| allows_len(d))
            .map(|d| format!("(?:{})", d.national_number().as_str()))
            .collect();
        let types = if union.is_empty() {
            None
        } else {
            Some(add(&union.join("|"))?)
        };
        regions.push(Region {
            leading,
            general,
            types,
        });
    }
    Some(Builder {
        components,
        regions,
        memo: HashMap::new(),
        interned: HashMap::new(),
        nodes: Vec::new(),
    })
}

pub(crate) fn build() -> Option<Table> {
    let mut builder = builder()?;
    let start: Vec<Run> = builder
        .components
        .iter()
        .map(|c| Run::Live(c.start))
        .collect();
    let root = builder.node(0, start);
    Some(Table {
        nodes: builder.nodes,
        root,
    })
}

impl Builder {
    /// Advances every live component by one digit.
    fn step(&self, runs: &[Run], byte: u8) -> Vec<Run> {
        runs.iter()
            .zip(&self.components)
            .map(|(&run, c)| match run {
                Run::Live(s) => {
                    let next = c.dfa.next_state(s, byte);
                    // Dense DFAs report a match one byte late: a match state after this byte
                    // means a prefix ending before it matched.
                    if c.dfa.is_match_state(next) {
                        Run::Matched
                    } else if c.dfa.is_dead_state(next) {
                        Run::Dead
                    } else {
                        Run::Live(next)
                    }
                }
                done => done,
            })
            .collect()
    }

    /// Whether each component matched some prefix of the complete string.
    fn finish(&self, runs: &[Run]) -> Vec<bool> {
        runs.iter()
            .zip(&self.components)
            .map(|(&run, c)| match run {
                Run::Live(s) => c.dfa.is_match_state(c.dfa.next_eoi_state(s)),
                Run::Matched => true,
                Run::Dead => false,
            })
            .collect()
    }

    /// `phonenumber::validator::is_valid_with` for country code 1, from component results.
    fn valid(&self, matched: &[bool]) -> bool {
        let known = |r: &Region| {
            r.general.is_some_and(|g| matched[g]) && r.types.is_some_and(|t| matched[t])
        };
        for region in &self.regions {
            let is_source = match region.leading {
                Some(l) => matched[l],
                None => known(region),
            };
            if is_source {
                return known(region);
            }
        }
        false
    }

    /// The reduced DAG node for the remaining `LEN - depth` digits from component state `runs`.
    fn node(&mut self, depth: usize, runs: Vec<Run>) -> u32 {
        if depth == LEN || runs.iter().all(|r| !matches!(r, Run::Live(_))) {
            // Complete, or every component already decided: the rest cannot change anything.
            return if self.valid(&self.finish(&runs)) {
                VALID
            } else {
                INVALID
            };
        }
        let key = (depth, runs);
        if let Some(&id) = self.memo.get(&key) {
            return id;
        }
        let mut children = [INVALID; 10];
        for (digit, child) in (b'0'..=b'9').zip(children.iter_mut()) {
            let next = self.step(&key.1, digit);
            *child = self.node(depth + 1, next);
        }
        let id = if children[0] < FIRST_NODE && children.iter().all(|&c| c == children[0]) {
            // The outcome no longer depends on the remaining digits: a leaf. (Only leaves may
            // replace a node: an internal child expects to read the *next* digit.)
            children[0]
        } else if let Some(&id) = self.interned.get(&(depth, children)) {
            id
        } else {
            let id = FIRST_NODE + u32::try_from(self.nodes.len()).unwrap_or(u32::MAX - FIRST_NODE);
            self.nodes.push(children);
            self.interned.insert((depth, children), id);
            id
        };
        self.memo.insert(key, id);
        id
    }
}

#[cfg(test)]
mod precomputed {
    use std::fmt::Write as _;

    use super::*;

    /// The source of `nanp_table.rs` for a table.
    fn render(table: &Table) -> String {
        let mut out = String::from(
            "//! Generated by `nanp::precomputed` (LIVERAMP_WRITE_NANP_TABLE=1 cargo test -p \
             liveramp-pii-normalize precomputed): the NANP validity DAG built from \
             `phonenumber`'s metadata. Do not edit.\n\n",
        );
        let _ = write!(
            out,
            "/// The root node.\npub(crate) const ROOT: u32 = {};\n\n",
            table.root
        );
        let _ = write!(
            out,
            "/// The internal nodes (node `id` is `NODES[id - 2]`; 0 invalid, 1 valid).\n\
             #[rustfmt::skip]\npub(crate) static NODES: [[u32; 10]; {}] = [\n",
            table.nodes.len()
        );
        for node in &table.nodes {
            let cells: Vec<String> = node.iter().map(u32::to_string).collect();
            let _ = writeln!(out, "    [{}],", cells.join(", "));
        }
        out.push_str("];\n");
        out
    }

    #[test]
    fn the_precomputed_table_is_the_one_built_from_the_metadata() {
        let built = build().expect("the metadata's regexes compile");
        let expected = render(&built);
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/nanp_table.rs");
        if std::env::var_os("LIVERAMP_WRITE_NANP_TABLE").is_some() {
            std::fs::write(path, &expected).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == expected,
            "src/nanp_table.rs is not the table phonenumber's metadata gives (a phonenumber \
             upgrade?): run LIVERAMP_WRITE_NANP_TABLE=1 cargo test -p liveramp-pii-normalize \
             precomputed, and review the diff"
        );
        assert_eq!(TABLE.as_ref().unwrap().nodes, built.nodes);
        assert_eq!(TABLE.as_ref().unwrap().root, built.root);
    }
}
