//! The vectors of one model in memory, searched by brute force: one contiguous i8 matrix (a
//! row of 384 bytes per record, 38 MB at 100,000 records), each row tagged with its kind
//! and project so that a query's kind and project filters skip rows during the scan rather
//! than thin out its top candidates afterwards. The best rows are kept in a bounded heap.
//!
//! The scan is the dot product of the query with every row; on x86-64 with AVX2 (checked at
//! run time) it is compiled for 256-bit registers, twice the width of the baseline's SSE2.

use super::vectors::Kind;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// Which rows a scan considers.
#[derive(Clone, Copy, Debug)]
pub struct Filter<'a> {
    /// The kinds of record.
    pub kinds: &'a [Kind],
    /// A project's key or name, as `/v1/search?project=` takes either; `None`: all.
    pub project: Option<&'a str>,
}

/// A project as the index knows it: its key (the root) and its name.
type ProjectTag = (String, String);

/// The in-memory vectors of one model.
#[derive(Default)]
pub struct Index {
    model: String,
    dims: usize,
    keys: Vec<(Kind, i64)>,
    /// Per row: the number of its project in `projects`.
    project_of: Vec<u32>,
    slots: HashMap<(Kind, i64), usize>,
    data: Vec<i8>,
    projects: Vec<ProjectTag>,
    project_numbers: HashMap<ProjectTag, u32>,
}

/// A heap entry: the lowest score on top, and among equal scores the latest row (so the
/// earliest rows win ties, as a stable sort would).
type Entry = Reverse<(i32, Reverse<usize>)>;

impl Index {
    /// An empty index for `model`.
    pub fn new(model: &str, dims: usize) -> Index {
        Index {
            model: model.into(),
            dims,
            ..Default::default()
        }
    }

    /// The model the vectors are from.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Vectors held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    fn project_number(&mut self, project: &str, name: &str) -> u32 {
        let tag = (project.to_owned(), name.to_owned());
        if let Some(&n) = self.project_numbers.get(&tag) {
            return n;
        }
        let n = self.projects.len() as u32;
        self.projects.push(tag.clone());
        self.project_numbers.insert(tag, n);
        n
    }

    /// Add or replace a record's vector, with the project (key and name) it belongs to.
    pub fn put(&mut self, kind: Kind, id: i64, project: &str, name: &str, v: &[i8]) {
        if v.len() != self.dims {
            return;
        }
        let p = self.project_number(project, name);
        match self.slots.get(&(kind, id)) {
            Some(&i) => {
                self.data[i * self.dims..(i + 1) * self.dims].copy_from_slice(v);
                self.project_of[i] = p;
            }
            None => {
                self.slots.insert((kind, id), self.keys.len());
                self.keys.push((kind, id));
                self.project_of.push(p);
                self.data.extend_from_slice(v);
            }
        }
    }

    /// Forget a record's vector (the last row moves into its place).
    pub fn remove(&mut self, kind: Kind, id: i64) {
        let Some(i) = self.slots.remove(&(kind, id)) else {
            return;
        };
        let last = self.keys.len() - 1;
        if i != last {
            let moved = self.keys[last];
            self.keys[i] = moved;
            self.project_of[i] = self.project_of[last];
            self.slots.insert(moved, i);
            self.data
                .copy_within(last * self.dims..(last + 1) * self.dims, i * self.dims);
        }
        self.keys.pop();
        self.project_of.pop();
        self.data.truncate(last * self.dims);
    }

    /// The `n` records passing `filter` closest to `q`, closest first, with their cosine.
    pub fn nearest(&self, q: &[i8], filter: Filter<'_>, n: usize) -> Vec<((Kind, i64), f32)> {
        if q.len() != self.dims || self.dims == 0 || n == 0 {
            return Vec::new();
        }
        let mut kinds = [false; 3];
        for k in filter.kinds {
            kinds[*k as usize] = true;
        }
        let projects: Option<Vec<bool>> = filter.project.map(|p| {
            self.projects
                .iter()
                .map(|(key, name)| key == p || name == p)
                .collect()
        });
        if projects.as_ref().is_some_and(|p| !p.contains(&true)) || kinds == [false; 3] {
            return Vec::new();
        }
        let keep = |i: usize| {
            kinds[self.keys[i].0 as usize]
                && projects
                    .as_ref()
                    .is_none_or(|p| p[self.project_of[i] as usize])
        };
        let heap = scan(&self.data, self.dims, q, n, keep);
        let mut best: Vec<(i32, usize)> = heap
            .into_iter()
            .map(|Reverse((s, Reverse(i)))| (s, i))
            .collect();
        best.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        best.into_iter()
            .map(|(s, i)| (self.keys[i], s as f32 / (127.0 * 127.0)))
            .collect()
    }
}

/// The best `n` rows by dot product with `q` among those `keep` accepts.
fn scan(
    data: &[i8],
    dims: usize,
    q: &[i8],
    n: usize,
    keep: impl Fn(usize) -> bool,
) -> BinaryHeap<Entry> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above), all `scan_avx2` requires.
        return unsafe { scan_avx2(data, dims, q, n, keep) };
    }
    scan_rows(data, dims, q, n, keep)
}

/// [`scan_rows`] compiled for AVX2: the dot products it inlines use 256-bit registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn scan_avx2(
    data: &[i8],
    dims: usize,
    q: &[i8],
    n: usize,
    keep: impl Fn(usize) -> bool,
) -> BinaryHeap<Entry> {
    scan_rows(data, dims, q, n, keep)
}

#[inline(always)]
fn scan_rows(
    data: &[i8],
    dims: usize,
    q: &[i8],
    n: usize,
    keep: impl Fn(usize) -> bool,
) -> BinaryHeap<Entry> {
    let mut heap: BinaryHeap<Entry> = BinaryHeap::with_capacity(n + 1);
    for (i, row) in data.chunks_exact(dims).enumerate() {
        if !keep(i) {
            continue;
        }
        let e = Reverse((dot(q, row), Reverse(i)));
        if heap.len() < n {
            heap.push(e);
        } else if let Some(mut top) = heap.peek_mut() {
            // A better row than the worst kept one replaces it.
            if e < *top {
                *top = e;
            }
        }
    }
    heap
}

/// i8 products summed in i32: the form the compiler turns into widening multiply-adds.
#[inline(always)]
fn dot(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Filter<'static> = Filter {
        kinds: &Kind::ALL,
        project: None,
    };

    #[test]
    fn puts_replaces_removes_and_ranks() {
        let mut ix = Index::new("m", 2);
        ix.put(Kind::Observation, 1, "/p", "p", &[127, 0]);
        ix.put(Kind::Observation, 2, "/p", "p", &[0, 127]);
        ix.put(Kind::Prompt, 1, "/p", "p", &[90, 90]);
        let q = [127, 0];
        let all = ix.nearest(&q, ALL, 3);
        assert_eq!(all[0].0, (Kind::Observation, 1));
        assert_eq!(all[1].0, (Kind::Prompt, 1));
        assert!((all[0].1 - 1.0).abs() < 1e-6);
        let prompts = Filter {
            kinds: &[Kind::Prompt],
            project: None,
        };
        assert_eq!(ix.nearest(&q, prompts, 3).len(), 1);
        ix.put(Kind::Observation, 1, "/p", "p", &[0, -127]);
        assert_eq!(ix.nearest(&q, ALL, 1)[0].0, (Kind::Prompt, 1));
        ix.remove(Kind::Prompt, 1);
        ix.remove(Kind::Prompt, 1);
        assert_eq!(ix.len(), 2);
        assert_eq!(ix.nearest(&[0, 127], ALL, 1)[0].0, (Kind::Observation, 2));
        assert!(ix.nearest(&[0, 127, 0], ALL, 1).is_empty());
    }

    #[test]
    fn the_project_filter_applies_during_the_scan() {
        let mut ix = Index::new("m", 2);
        // Many closer rows of another project do not crowd the project's one row out.
        for id in 0..50 {
            ix.put(Kind::Observation, id, "/other", "other", &[127, 0]);
        }
        ix.put(Kind::Observation, 99, "/r/app", "app", &[0, 127]);
        ix.put(Kind::Observation, 98, "/s/app", "app", &[10, 120]);
        ix.remove(Kind::Observation, 3);
        let near = |ix: &Index, project| {
            ix.nearest(
                &[127, 0],
                Filter {
                    kinds: &Kind::ALL,
                    project: Some(project),
                },
                5,
            )
            .into_iter()
            .map(|(k, _)| k.1)
            .collect::<Vec<_>>()
        };
        assert_eq!(near(&ix, "/r/app"), vec![99]);
        // By name: both projects called app, the closer first.
        assert_eq!(near(&ix, "app"), vec![98, 99]);
        assert!(near(&ix, "/nowhere").is_empty());
        assert_eq!(near(&ix, "other").len(), 5);
        assert!(!near(&ix, "other").contains(&3));
        // Moving a row keeps its project: the last row (98) took the removed row's place.
        ix.remove(Kind::Observation, 0);
        assert_eq!(near(&ix, "/s/app"), vec![98]);
    }

    /// The heap keeps exactly what a full sort would: the best `n`, ties to earlier rows.
    #[test]
    fn the_heap_keeps_what_a_sort_would() {
        let dims = 48;
        let mut ix = Index::new("m", dims);
        let mut x: u32 = 7;
        let mut rows = Vec::new();
        for id in 0..2_000i64 {
            let v: Vec<i8> = (0..dims)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    // Few distinct values: many ties.
                    ((x >> 16) % 5) as i8 - 2
                })
                .collect();
            ix.put(Kind::Observation, id, "/p", "p", &v);
            rows.push(v);
        }
        let q: Vec<i8> = (0..dims).map(|i| (i % 3) as i8 - 1).collect();
        let mut sorted: Vec<(i32, i64)> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (dot(&q, r), i as i64))
            .collect();
        sorted.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let got: Vec<i64> = ix.nearest(&q, ALL, 37).iter().map(|(k, _)| k.1).collect();
        let want: Vec<i64> = sorted[..37].iter().map(|s| s.1).collect();
        assert_eq!(got, want);
        assert_eq!(ix.nearest(&q, ALL, 5_000).len(), 2_000);
    }
}
