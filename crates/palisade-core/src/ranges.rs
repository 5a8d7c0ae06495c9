//! Inclusive ranges of ports or addresses, merged: one function for port ranges (`u16`)
//! and address intervals (`u128`).

/// A bound with a successor (none at the type's maximum).
pub trait Succ: Copy + Ord {
    /// The next value, `None` at the maximum.
    fn succ(self) -> Option<Self>;
}

impl Succ for u16 {
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
}

impl Succ for u128 {
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
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
}
