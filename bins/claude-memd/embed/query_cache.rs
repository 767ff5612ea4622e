//! The embeddings of recent search queries. Paging through results, a client repeating a
//! search, or the MCP tool asked the same thing twice would otherwise run the model again
//! for a vector it just made (the model is most of a semantic query's time).

use std::collections::VecDeque;

/// Queries kept: enough for the pages of the searches of a session or two.
const ENTRIES: usize = 64;

/// Longer texts are not kept (a pasted log is seldom searched twice, and would hold memory).
const MAX_TEXT: usize = 1024;

/// The most recently used query embeddings, per model.
#[derive(Default)]
pub struct QueryCache {
    /// (model id, query text, its quantized vector), most recently used last.
    entries: VecDeque<(String, String, Vec<i8>)>,
}

impl QueryCache {
    /// The vector `model` gave `text`, if it is kept.
    pub fn get(&mut self, model: &str, text: &str) -> Option<Vec<i8>> {
        let i = self
            .entries
            .iter()
            .position(|(m, t, _)| m == model && t == text)?;
        let e = self.entries.remove(i)?;
        let v = e.2.clone();
        self.entries.push_back(e);
        Some(v)
    }

    /// Keep the vector `model` gave `text`, forgetting the least recently used beyond
    /// [`ENTRIES`].
    pub fn put(&mut self, model: &str, text: &str, v: &[i8]) {
        if text.len() > MAX_TEXT {
            return;
        }
        self.entries.retain(|(m, t, _)| !(m == model && t == text));
        if self.entries.len() == ENTRIES {
            self.entries.pop_front();
        }
        self.entries
            .push_back((model.to_owned(), text.to_owned(), v.to_vec()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_recent_queries_of_each_model() {
        let mut c = QueryCache::default();
        c.put("m1", "login token", &[1, 2]);
        assert_eq!(c.get("m1", "login token"), Some(vec![1, 2]));
        // Another model's vector for the same words is another vector.
        assert_eq!(c.get("m2", "login token"), None);
        assert_eq!(c.get("m1", "login"), None);
        // The least recently used goes first: "login token" was just used.
        for i in 0..ENTRIES - 1 {
            c.put("m1", &format!("q{i}"), &[i as i8]);
        }
        assert_eq!(c.get("m1", "login token"), Some(vec![1, 2]));
        c.put("m1", "one more", &[9]);
        assert_eq!(c.get("m1", "q0"), None);
        assert_eq!(c.get("m1", "login token"), Some(vec![1, 2]));
        assert_eq!(c.entries.len(), ENTRIES);
        // A replaced vector is not kept twice.
        c.put("m1", "one more", &[8]);
        assert_eq!(c.get("m1", "one more"), Some(vec![8]));
        assert_eq!(c.entries.len(), ENTRIES);
        c.put("m1", &"x".repeat(MAX_TEXT + 1), &[1]);
        assert_eq!(c.get("m1", &"x".repeat(MAX_TEXT + 1)), None);
    }
}
