//! Fixed-size bitsets and square bit matrices over equivalence classes.

/// A fixed-size set of small integers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BitSet {
    words: Vec<u64>,
    len: usize,
}

impl BitSet {
    /// An empty set of `len` bits.
    pub fn new(len: usize) -> Self {
        BitSet {
            words: vec![0; len.div_ceil(64)],
            len,
        }
    }

    /// A set holding every index below `len`.
    pub fn full(len: usize) -> Self {
        let mut s = BitSet {
            words: vec![u64::MAX; len.div_ceil(64)],
            len,
        };
        s.trim();
        s
    }

    fn trim(&mut self) {
        let extra = self.words.len() * 64 - self.len;
        if extra > 0 {
            if let Some(last) = self.words.last_mut() {
                *last &= u64::MAX >> extra;
            }
        }
    }

    /// The number of indices the set can hold (not the number it holds: see [`BitSet::count`]).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no index is set.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    /// Sets bit `i`.
    pub fn insert(&mut self, i: usize) {
        debug_assert!(i < self.len);
        self.words[i / 64] |= 1 << (i % 64);
    }

    /// Clears bit `i`.
    pub fn remove(&mut self, i: usize) {
        self.words[i / 64] &= !(1 << (i % 64));
    }

    /// Whether bit `i` is set.
    pub fn contains(&self, i: usize) -> bool {
        i < self.len && self.words[i / 64] & (1 << (i % 64)) != 0
    }

    /// Adds every index of `other` (same length).
    pub fn union_with(&mut self, other: &BitSet) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= *b;
        }
    }

    /// Keeps only the indices also in `other` (same length).
    pub fn intersect_with(&mut self, other: &BitSet) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= *b;
        }
    }

    /// Removes every index of `other` (same length).
    pub fn subtract(&mut self, other: &BitSet) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= !*b;
        }
    }

    /// `self |= a & b`.
    pub fn union_with_and(&mut self, a: &BitSet, b: &BitSet) {
        for ((x, y), z) in self.words.iter_mut().zip(&a.words).zip(&b.words) {
            *x |= *y & *z;
        }
    }

    /// `(a ^ b) & mask`: where two rows disagree, within `mask`.
    pub fn differences_within(a: &BitSet, b: &BitSet, mask: &BitSet) -> BitSet {
        BitSet {
            words: a
                .words
                .iter()
                .zip(&b.words)
                .zip(&mask.words)
                .map(|((x, y), m)| (x ^ y) & m)
                .collect(),
            len: a.len,
        }
    }

    /// The number of indices set.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The bits as 64-bit words, lowest index first.
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// The indices set, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + b)
            })
        })
    }
}

/// A square matrix of bits: row `i` holds the columns related to `i`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BitMatrix {
    /// Row `i` holds the columns `j` with `(i, j)` set.
    pub rows: Vec<BitSet>,
}

impl BitMatrix {
    /// An empty `n` × `n` matrix.
    pub fn new(n: usize) -> Self {
        BitMatrix {
            rows: (0..n).map(|_| BitSet::new(n)).collect(),
        }
    }

    /// The number of rows (and columns).
    pub fn size(&self) -> usize {
        self.rows.len()
    }

    /// Whether `(i, j)` is set.
    pub fn get(&self, i: usize, j: usize) -> bool {
        self.rows[i].contains(j)
    }

    /// The transposed matrix, by 64×64 blocks.
    pub fn transpose(&self) -> BitMatrix {
        let mut out = BitMatrix::new(self.rows.len());
        let rows: Vec<&BitSet> = self.rows.iter().collect();
        transpose_into(&rows, &mut out);
        out
    }
}

/// Writes the transpose of the square matrix whose rows are `rows` into `out`
/// (every word of `out` is overwritten, so a buffer can be reused).
pub fn transpose_into(rows: &[&BitSet], out: &mut BitMatrix) {
    let n = rows.len();
    debug_assert_eq!(out.rows.len(), n);
    let blocks = n.div_ceil(64);
    let mut block = [0u64; 64];
    // Eight block-rows at a time: the output rows then receive a whole cache line of
    // words each, and the 512 input rows' words stay in cache while `bj` moves on.
    for group in (0..blocks).step_by(8) {
        for bj in 0..blocks {
            for bi in group..(group + 8).min(blocks) {
                let mut any = 0u64;
                for (k, slot) in block.iter_mut().enumerate() {
                    let r = bi * 64 + k;
                    *slot = if r < n { rows[r].words[bj] } else { 0 };
                    any |= *slot;
                }
                if any != 0 {
                    transpose64(&mut block);
                }
                for (k, w) in block.iter().enumerate() {
                    let r = bj * 64 + k;
                    if r < n {
                        out.rows[r].words[bi] = *w;
                    }
                }
            }
        }
    }
}

/// In-place transpose of a 64×64 bit block (row k, bit j) -> (row j, bit k).
fn transpose64(a: &mut [u64; 64]) {
    let mut j = 32;
    let mut m: u64 = 0x0000_0000_FFFF_FFFF;
    while j != 0 {
        let mut k = 0;
        while k < 64 {
            let t = ((a[k] >> j) ^ a[k + j]) & m;
            a[k] ^= t << j;
            a[k + j] ^= t;
            k = (k + j + 1) & !j;
        }
        j >>= 1;
        m ^= m << j;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_basics() {
        let mut s = BitSet::new(130);
        s.insert(0);
        s.insert(64);
        s.insert(129);
        assert!(s.contains(129) && !s.contains(128) && !s.contains(500));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![0, 64, 129]);
        assert_eq!(BitSet::full(130).count(), 130);
        assert_eq!(BitSet::full(64).count(), 64);
    }

    #[test]
    fn transpose_matches_naive() {
        for n in [1usize, 5, 63, 64, 65, 130, 200, 511, 513, 1100] {
            let mut m = BitMatrix::new(n);
            let mut x: u64 = 12345;
            for i in 0..n {
                for j in 0..n {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    if x >> 61 == 0 {
                        m.rows[i].insert(j);
                    }
                }
            }
            let t = m.transpose();
            for i in 0..n {
                for j in 0..n {
                    assert_eq!(m.get(i, j), t.get(j, i), "n={n} i={i} j={j}");
                }
            }
        }
    }
}
