//! Stored vectors: one per record, in the `vectors` table (quantized to i8, tied to the
//! model's id), and their loading into the in-memory [`Index`] searched by queries. The database triggers drop a
//! record's vector when the record is deleted or rewritten (schema version 9).

use super::index::Index;
use rusqlite::{params, Connection};

/// Which table a record is in, as the `vectors.record` column names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Observation,
    Summary,
    Prompt,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 3] = [Kind::Observation, Kind::Summary, Kind::Prompt];

    /// The `vectors.record` value.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Observation => "observation",
            Kind::Summary => "summary",
            Kind::Prompt => "prompt",
        }
    }

    /// The text embedded for a record: what a reader sees of it, without file lists.
    fn text_sql(self) -> &'static str {
        match self {
            Kind::Observation => {
                "SELECT id, project, project_name,
                   title || char(10) || coalesce(subtitle, '') || char(10)
                   || coalesce(narrative, '') || char(10) || facts || char(10) || concepts
                 FROM observations r"
            }
            Kind::Summary => {
                "SELECT id, project, project_name, concat_ws(char(10), request, investigated,
                   learned, completed, next_steps, notes) FROM session_summaries r"
            }
            Kind::Prompt => "SELECT id, project, project_name, prompt_text FROM user_prompts r",
        }
    }

    pub fn table(self) -> &'static str {
        match self {
            Kind::Observation => "observations",
            Kind::Summary => "session_summaries",
            Kind::Prompt => "user_prompts",
        }
    }
}

/// A record that has no vector from the current model yet.
pub struct Pending {
    pub kind: Kind,
    pub id: i64,
    /// Its project's key and name (the index filters by them).
    pub project: String,
    pub project_name: String,
    pub text: String,
}

/// Up to `n` records of `kind` below id `before` without a vector from `model`, newest
/// first (a backfill walks down from the newest, so recent records become findable first).
pub fn pending(
    conn: &Connection,
    kind: Kind,
    model: &str,
    before: i64,
    n: usize,
) -> rusqlite::Result<Vec<Pending>> {
    let sql = format!(
        "{} WHERE r.id < ?1 AND NOT EXISTS (SELECT 1 FROM vectors v
           WHERE v.record = ?2 AND v.id = r.id AND v.model = ?3)
         ORDER BY r.id DESC LIMIT ?4",
        kind.text_sql()
    );
    let mut st = conn.prepare_cached(&sql)?;
    let rows = st.query_map(params![before, kind.name(), model, n as i64], |r| {
        Ok(Pending {
            kind,
            id: r.get(0)?,
            project: r.get(1)?,
            project_name: r.get(2)?,
            text: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
        })
    })?;
    rows.collect()
}

/// Records of every kind, and how many have a vector from `model`.
pub fn counts(conn: &Connection, model: &str) -> rusqlite::Result<(u64, u64)> {
    let mut total = 0u64;
    for k in Kind::ALL {
        let n: i64 = conn.query_row(&format!("SELECT count(*) FROM {}", k.table()), [], |r| {
            r.get(0)
        })?;
        total += n as u64;
    }
    let done: i64 = conn.query_row(
        "SELECT count(*) FROM vectors WHERE model = ?1",
        [model],
        |r| r.get(0),
    )?;
    Ok((total, done as u64))
}

/// A unit vector as i8 (×127): a quarter of the f32 size; cosine ranks barely move.
pub fn quantize(v: &[f32]) -> Vec<i8> {
    v.iter()
        .map(|x| (x * 127.0).round().clamp(-127.0, 127.0) as i8)
        .collect()
}

/// Store vectors for records, replacing older ones (another model's included). A record
/// deleted since it was read gets none.
pub fn store(
    conn: &mut Connection,
    model: &str,
    items: &[(Kind, i64, Vec<i8>)],
) -> rusqlite::Result<usize> {
    let tx = conn.transaction()?;
    let mut n = 0;
    for (kind, id, v) in items {
        let blob: Vec<u8> = v.iter().map(|&x| x as u8).collect();
        let mut st = tx.prepare_cached(match kind {
            Kind::Observation => {
                "INSERT OR REPLACE INTO vectors (record, id, model, vec)
                 SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM observations WHERE id = ?2)"
            }
            Kind::Summary => {
                "INSERT OR REPLACE INTO vectors (record, id, model, vec)
                 SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM session_summaries WHERE id = ?2)"
            }
            Kind::Prompt => {
                "INSERT OR REPLACE INTO vectors (record, id, model, vec)
                 SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM user_prompts WHERE id = ?2)"
            }
        })?;
        n += st.execute(params![kind.name(), id, model, blob])?;
    }
    tx.commit()?;
    Ok(n)
}

/// Drop the vectors of other models once every record has one from `model`.
pub fn drop_others(conn: &Connection, model: &str) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM vectors WHERE model != ?1", [model])
}

/// Everything stored for `model`, with each record's project, into memory.
pub fn load_index(conn: &Connection, model: &str, dims: usize) -> rusqlite::Result<Index> {
    let mut ix = Index::new(model, dims);
    for kind in Kind::ALL {
        let mut st = conn.prepare(&format!(
            "SELECT v.id, r.project, r.project_name, v.vec FROM vectors v
               JOIN {} r ON r.id = v.id
             WHERE v.record = ?1 AND v.model = ?2",
            kind.table()
        ))?;
        let mut rows = st.query(params![kind.name(), model])?;
        while let Some(r) = rows.next()? {
            let blob = r.get_ref(3)?.as_blob()?;
            if blob.len() == dims {
                let v: Vec<i8> = blob.iter().map(|&b| b as i8).collect();
                ix.put(
                    kind,
                    r.get(0)?,
                    r.get_ref(1)?.as_str()?,
                    r.get_ref(2)?.as_str()?,
                    &v,
                );
            }
        }
    }
    Ok(ix)
}

/// Whether record `id` of `kind` has a vector (from any model).
#[cfg(test)]
pub fn has_vector(conn: &Connection, kind: Kind, id: i64) -> rusqlite::Result<bool> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .query_row(
            "SELECT 1 FROM vectors WHERE record = ?1 AND id = ?2",
            params![kind.name(), id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deleting_or_rewriting_a_record_drops_its_vector() {
        let (_dir, mut c) = crate::schema::test_db();
        c.execute(
            "INSERT INTO observations (id, session_id, project, project_name, type, title,
               created_at, created_at_epoch) VALUES (7, 's', '/p', 'p', 'change', 't', '', 0)",
            [],
        )
        .unwrap();
        c.execute(
            "INSERT INTO user_prompts (id, session_id, project, project_name, prompt_number,
               prompt_text) VALUES (7, 's', '/p', 'p', 1, 'hello')",
            [],
        )
        .unwrap();
        let p = pending(&c, Kind::Observation, "m", i64::MAX, 10).unwrap();
        assert_eq!(p.len(), 1);
        assert!(p[0].text.starts_with("t\n"), "{:?}", p[0].text);
        let v = vec![1i8; 4];
        let items = [
            (Kind::Observation, 7, v.clone()),
            (Kind::Prompt, 7, v.clone()),
        ];
        assert_eq!(store(&mut c, "m", &items).unwrap(), 2);
        // A record deleted before its vector was stored gets none.
        assert_eq!(store(&mut c, "m", &[(Kind::Summary, 7, v)]).unwrap(), 0);
        assert!(pending(&c, Kind::Observation, "m", i64::MAX, 10)
            .unwrap()
            .is_empty());
        assert_eq!(
            pending(&c, Kind::Observation, "m2", i64::MAX, 10)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(counts(&c, "m").unwrap(), (2, 2));
        c.execute("UPDATE observations SET title = 'new' WHERE id = 7", [])
            .unwrap();
        assert!(!has_vector(&c, Kind::Observation, 7).unwrap());
        c.execute("DELETE FROM user_prompts WHERE id = 7", [])
            .unwrap();
        assert!(!has_vector(&c, Kind::Prompt, 7).unwrap());
        assert_eq!(counts(&c, "m").unwrap(), (1, 0));
    }
}
