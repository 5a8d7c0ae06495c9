//! Inclusive ranges of ports or addresses, merged: one function for port ranges (`u16`)
//! and address intervals (`u128`).

/// A bound with a successor and a predecessor (none at the type's maximum, minimum).
pub trait Succ: Copy + Ord {
    /// The next value, `None` at the maximum.
    fn succ(self) -> Option<Self>;
    /// The previous value, `None` at the minimum.
    fn pred(self) -> Option<Self>;
}

impl Succ for u16 {
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn pred(self) -> Option<Self> {
        self.checked_sub(1)
    }
}

impl Succ for u128 {
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn pred(self) -> Option<Self> {
        self.checked_sub(1)
    }
}

/// `ranges` minus `holes`, both sorted and merged; the result is sorted and merged.
pub fn subtract<T: Succ>(ranges: &[(T, T)], holes: &[(T, T)]) -> Vec<(T, T)> {
    let mut out = Vec::new();
    for &(lo, hi) in ranges {
        // `cur`: the first value of the range not yet handed out nor cut (None: past its end).
        let mut cur = Some(lo);
        let start = holes.partition_point(|h| h.1 < lo);
        for &(hl, hh) in &holes[start..] {
            let Some(c) = cur else { break };
            if hl > hi {
                break;
            }
            if hl > c {
                out.push((c, hl.pred().expect("above c")));
            }
            cur = if hh >= hi {
                None
            } else {
                hh.succ().map(|n| n.max(c))
            };
        }
        if let Some(c) = cur {
            out.push((c, hi));
        }
    }
    out
}

/// Sorted, with overlapping and adjacent ranges joined.
pub fn merge<T: Succ>(mut r: Vec<(T, T)>) -> Vec<(T, T)> {
    r.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(r.len());
    for (lo, hi) in r {
        match out.last_mut() {
            Some(last) if last.1.succ().is_none_or(|next| lo <= next) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expectations by hand.
    #[test]
    fn joins_overlapping_and_adjacent_ranges_up_to_the_maximum() {
        assert_eq!(
            merge(vec![(80u16, 80), (1, 79), (443, 443), (81, 90)]),
            vec![(1, 90), (443, 443)]
        );
        assert_eq!(merge(vec![(65535u16, 65535), (1, 65535)]), vec![(1, 65535)]);
        assert_eq!(
            merge(vec![(5u128, 5), (1, 3), (4, 4), (10, 12)]),
            vec![(1, 5), (10, 12)]
        );
        assert_eq!(
            merge(vec![(u128::MAX, u128::MAX), (0, u128::MAX)]),
            vec![(0, u128::MAX)]
        );
        assert_eq!(merge(Vec::<(u16, u16)>::new()), vec![]);
    }

    /// Expectations by hand.
    #[test]
    fn subtracts_holes_at_every_edge() {
        assert_eq!(
            subtract(&[(0u128, 100)], &[(10, 19), (50, 50)]),
            vec![(0, 9), (20, 49), (51, 100)]
        );
        assert_eq!(subtract(&[(0u128, 100)], &[(0, 100)]), vec![]);
        assert_eq!(subtract(&[(10u128, 20)], &[(0, 12), (18, 30)]), vec![(13, 17)]);
        assert_eq!(
            subtract(&[(0, u128::MAX)], &[(5, 5)]),
            vec![(0, 4), (6, u128::MAX)]
        );
        assert_eq!(
            subtract(&[(1u16, 65535)], &[(80, 80)]),
            vec![(1, 79), (81, 65535)]
        );
        assert_eq!(subtract(&[(80u16, 80)], &[(1, 65535)]), vec![]);
        assert_eq!(
            subtract(&[(53u16, 53), (80, 90)], &[(85, 100)]),
            vec![(53, 53), (80, 84)]
        );
        assert_eq!(subtract(&[(10u16, 20)], &[]), vec![(10, 20)]);
        assert_eq!(
            subtract(&[(0u16, 65535)], &[(0, 0), (65535, 65535)]),
            vec![(1, 65534)]
        );
        assert_eq!(
            subtract(&[(1u16, 10), (20, 30)], &[(5, 25)]),
            vec![(1, 4), (26, 30)]
        );
    }
}
