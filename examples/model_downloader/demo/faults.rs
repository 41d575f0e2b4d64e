//! The catalog of models, the bytes each one is made of, and the seeded
//! schedule of faults the server injects: everything the story depends on,
//! computed from the seed alone.

use std::fmt;
use std::ops::Range;

/// FNV-1a, 64 bits: the checksum the server sends with a model and the
/// client checks. Not a defence against tampering, only against corruption.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// xorshift64: a tiny PRNG, good enough to pick faults; the same seed gives
/// the same sequence on every machine.
#[derive(Debug, Clone)]
pub struct Xorshift(u64);

impl Xorshift {
    /// A generator whose state is `seed`, scrambled so that nearby seeds
    /// (1, 2, 3) do not start out alike.
    pub fn new(seed: u64) -> Self {
        // The splitmix64 finaliser; `| 1` keeps the state off zero, where
        // xorshift would stay forever.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Xorshift((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Where a model is installed; each family has a directory of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Text,
    Vision,
    Audio,
    Diffusion,
}

impl Family {
    pub const ALL: [Family; 4] = [
        Family::Text,
        Family::Vision,
        Family::Audio,
        Family::Diffusion,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Family::Text => "text",
            Family::Vision => "vision",
            Family::Audio => "audio",
            Family::Diffusion => "diffusion",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of the hub's catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub name: String,
    pub family: Family,
    /// Behind a license that must be accepted by a person: the hub answers 403.
    pub gated: bool,
}

const BASE_CATALOG: [(&str, Family); 12] = [
    ("bert-base", Family::Text),
    ("resnet-50", Family::Vision),
    ("whisper-tiny", Family::Audio),
    ("sd-turbo", Family::Diffusion),
    ("gpt2-small", Family::Text),
    ("llama-2-7b", Family::Text),
    ("clip-vit-b32", Family::Vision),
    ("t5-small", Family::Text),
    ("wav2vec2-base", Family::Audio),
    ("yolo-v8n", Family::Vision),
    ("phi-2", Family::Text),
    ("mistral-7b", Family::Text),
];

/// The model that needs a license accepted.
const GATED: &str = "llama-2-7b";

/// The first `n` models; past the base catalog, later revisions (`-r2`, ...).
pub fn catalog(n: usize) -> Vec<Model> {
    (0..n)
        .map(|i| {
            let (base, family) = BASE_CATALOG[i % BASE_CATALOG.len()];
            let revision = i / BASE_CATALOG.len();
            Model {
                name: if revision == 0 {
                    base.to_owned()
                } else {
                    format!("{base}-r{}", revision + 1)
                },
                family,
                gated: base == GATED,
            }
        })
        .collect()
}

/// A model's file: 8 to 64 KiB of bytes that depend on its name alone.
pub fn model_bytes(name: &str) -> Vec<u8> {
    let hash = fnv1a64(name.as_bytes());
    let len = 8 * 1024 + (hash % (56 * 1024)) as usize;
    let mut rng = Xorshift::new(hash);
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        bytes.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// What the server does to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer normally.
    None,
    /// Close the connection without a response.
    Reset,
    /// `503 Service Unavailable` with `Retry-After: 1`.
    Unavailable,
    /// Answer, but later than the client waits.
    Slow,
    /// Answer with a body that does not match its checksum (a poisoned edge
    /// cache: a request with `Cache-Control: no-cache` gets the origin's copy).
    Corrupt,
    /// `403 Forbidden`: a gated model.
    Forbidden,
    /// The primary is down: every connection is closed without a response.
    Down,
}

impl Fault {
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Reset => "reset",
            Fault::Unavailable => "503",
            Fault::Slow => "slow",
            Fault::Corrupt => "corrupt",
            Fault::Forbidden => "403",
            Fault::Down => "down",
        }
    }
}

/// The kinds of fault drawn at random, each as likely as the others.
const RANDOM_FAULTS: [Fault; 4] = [
    Fault::Reset,
    Fault::Unavailable,
    Fault::Slow,
    Fault::Corrupt,
];

/// How many consecutive models the primary's outage spans.
pub const OUTAGE_LEN: usize = 3;

/// Which request fails how, decided from the seed, the model and how many
/// times that model was asked for before, never from the time or from the
/// order of other requests: a run with the same seed tells the same story.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    seed: u64,
    rate: f64,
    /// Indexes in the catalog of the models whose requests find the primary down.
    outage: Range<usize>,
}

impl FaultPlan {
    /// `rate`: the share of the primary's requests that get a random fault.
    pub fn new(seed: u64, rate: f64, models: &[Model]) -> Self {
        FaultPlan {
            seed,
            rate,
            outage: pick_outage(seed, models),
        }
    }

    pub fn outage(&self) -> Range<usize> {
        self.outage.clone()
    }

    /// The fault for the `nth` request (from 1) of the model at `index` on
    /// the primary; `fresh` when the request asked caches to revalidate.
    pub fn primary(&self, index: usize, model: &Model, nth: u32, fresh: bool) -> Fault {
        if self.outage.contains(&index) {
            return Fault::Down;
        }
        if model.gated {
            return Fault::Forbidden;
        }
        let mut rng = Xorshift::new(
            self.seed
                ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                ^ u64::from(nth).wrapping_mul(0xc2b2_ae3d_27d4_eb4f),
        );
        if rng.unit() >= self.rate {
            return Fault::None;
        }
        match RANDOM_FAULTS[rng.below(RANDOM_FAULTS.len())] {
            Fault::Corrupt if fresh => Fault::None,
            fault => fault,
        }
    }

    /// The mirror is slower but reliable; it refuses gated models too.
    pub fn mirror(&self, model: &Model) -> Fault {
        if model.gated {
            Fault::Forbidden
        } else {
            Fault::None
        }
    }

    /// Whether the local cache holds the model from an earlier run (about
    /// two thirds of the catalog; never a gated model, which was never fetched).
    pub fn warm_cache(&self, index: usize, model: &Model) -> bool {
        let mut rng = Xorshift::new(self.seed ^ 0x5eed_cac4e ^ ((index as u64) << 32));
        !model.gated && rng.unit() < 0.65
    }
}

/// Where the primary's outage falls: `OUTAGE_LEN` models from the middle
/// third on, clear of gated models (their 403 is a story of its own) and
/// with at least one model after it, on which the circuit closes again.
fn pick_outage(seed: u64, models: &[Model]) -> Range<usize> {
    let n = models.len();
    if n < OUTAGE_LEN + 2 {
        return 0..0;
    }
    let candidates: Vec<usize> = (n / 3..=n - OUTAGE_LEN - 1)
        .filter(|&start| !models[start..start + OUTAGE_LEN].iter().any(|m| m.gated))
        .collect();
    if candidates.is_empty() {
        return 0..0;
    }
    let start = candidates[Xorshift::new(seed ^ 0x07a6e).below(candidates.len())];
    start..start + OUTAGE_LEN
}
