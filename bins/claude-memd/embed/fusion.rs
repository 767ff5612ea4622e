//! Reciprocal rank fusion: the one place lexical and vector rankings meet. A record's score
//! is the sum over the lists that hold it of 1 / (K + rank); it needs no comparable scores
//! (BM25 and cosine are not), and a record high in both lists beats one high in only one.

use std::collections::HashMap;
use std::hash::Hash;

/// The usual constant (Cormack et al. 2009): it damps the weight of the first few ranks.
const K: f64 = 60.0;

/// Fuse ranked lists (best first) into one, best first, with each key's score. Ties go to
/// the key the earlier list ranks higher, so lexical order wins between equals when the
/// lexical list comes first.
///
/// Each list comes with a weight: a list of weak evidence (the lexical side's any-word
/// fallback, where most hits share one common word with the query) adds less to a record's
/// score, so it reorders the other list's candidates rather than pushing its own noise in.
pub fn rrf<T: Copy + Eq + Hash>(lists: &[(&[T], f64)]) -> Vec<(T, f64)> {
    let mut score: HashMap<T, (f64, usize, usize)> = HashMap::new();
    for (l, (list, weight)) in lists.iter().enumerate() {
        for (rank, key) in list.iter().enumerate() {
            let e = score.entry(*key).or_insert((0.0, l, rank));
            e.0 += weight / (K + rank as f64 + 1.0);
        }
    }
    let mut out: Vec<(T, (f64, usize, usize))> = score.into_iter().collect();
    out.sort_by(|a, b| {
        b.1 .0
            .total_cmp(&a.1 .0)
            .then(a.1 .1.cmp(&b.1 .1))
            .then(a.1 .2.cmp(&b.1 .2))
    });
    out.into_iter().map(|(k, (s, _, _))| (k, s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_wins_and_ties_keep_the_first_lists_order() {
        let fused = rrf(&[(&[1, 2, 3][..], 1.0), (&[3, 4, 1][..], 1.0)]);
        let keys: Vec<i32> = fused.iter().map(|f| f.0).collect();
        // 1 and 3 are in both lists; 1 ranks higher overall.
        assert_eq!(keys, vec![1, 3, 2, 4]);
        assert!((fused[0].1 - (1.0 / 61.0 + 1.0 / 63.0)).abs() < 1e-12);
        // Only in one list each, same rank: the first list's key first.
        let keys: Vec<i32> = rrf(&[(&[7][..], 1.0), (&[8][..], 1.0)])
            .iter()
            .map(|f| f.0)
            .collect();
        assert_eq!(keys, vec![7, 8]);
        assert!(rrf::<i32>(&[(&[][..], 1.0), (&[][..], 1.0)]).is_empty());
        // A list of weight 0 only adds its keys after the others, in its own order.
        let keys: Vec<i32> = rrf(&[(&[5, 6][..], 0.0), (&[6, 7][..], 1.0)])
            .iter()
            .map(|f| f.0)
            .collect();
        assert_eq!(keys, vec![6, 7, 5]);
    }
}
