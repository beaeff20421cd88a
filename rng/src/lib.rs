//! The workspace's random numbers: a small, fast, seedable generator (SplitMix64), so that a seed
//! reproduces a synthetic history, a generated workload or a fault schedule exactly.
//!
//! A crate of its own so that every crate may draw numbers without depending on another's job (the
//! nemesis needs no checker). The stream a seed gives is part of faultline's interface: seeds in tests, the
//! README and users' notes name runs by it, so [`Rng::next_u64`] must never change. (A crate such as
//! `rand` promises no stable stream across versions; SplitMix64 is 10 lines.)

/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014): the state
/// is the seed, advanced by a constant each draw.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    /// The stream is the interface: SplitMix64's published first outputs for seed 0 (Vigna's reference
    /// `splitmix64.c`), and `below`/`unit` as functions of them.
    #[test]
    fn a_seed_gives_splitmix64s_stream() {
        let mut rng = Rng(0);
        assert_eq!(
            [rng.next_u64(), rng.next_u64(), rng.next_u64()],
            [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F]
        );
        assert_eq!(Rng(0).below(1000), 0xE220_A839_7B1D_CDAF % 1000);
        assert_eq!(Rng(0).unit(), (0xE220_A839_7B1D_CDAFu64 >> 11) as f64 / (1u64 << 53) as f64);
    }

    #[test]
    fn below_and_unit_stay_in_range() {
        let mut rng = Rng(26);
        for n in [0, 1, 2, 3, 1000, u64::MAX] {
            for _ in 0..1000 {
                assert!(rng.below(n) < n.max(1));
            }
        }
        for _ in 0..10_000 {
            let u = rng.unit();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
