//! The soaks' seeded randomness: a small generator for schedules and a
//! hash of a case's parts for its fate, both reproducible from one seed.

/// SplitMix64: a small, seeded, well-mixed generator.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// One of `choices`, in proportion to its weight.
    #[allow(dead_code)] // not every soak draws weighted choices
    pub fn pick<T: Clone>(&mut self, choices: &[(u32, T)]) -> T {
        let total: u32 = choices.iter().map(|(w, _)| w).sum();
        let mut n = self.below(total as usize) as u32;
        for (weight, choice) in choices {
            if n < *weight {
                return choice.clone();
            }
            n -= weight;
        }
        unreachable!("the weights sum to the total")
    }
}

/// The SplitMix64 finalizer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A hash of `parts` under `seed`, as a fraction of 1.
pub fn draw(seed: u64, parts: &[&[u8]]) -> f64 {
    let mut hash = mix(seed);
    for part in parts {
        for byte in *part {
            hash = mix(hash ^ u64::from(*byte));
        }
        hash = mix(hash ^ 0xff);
    }
    (hash >> 11) as f64 / (1u64 << 53) as f64
}
