use super::*;
use crate::address::{Address, Resolved};

use crate::schema::test_db as db;

/// A remote peer record with only its names set (also a fixture for other modules' tests).
pub(crate) fn remote(key: &str, session: &str, name: &str) -> Peer {
    Peer {
        key: key.into(),
        session_id: session.into(),
        name: name.into(),
        hostname: None,
        cwd: None,
        pid: None,
        groups: vec![],
        topics: vec![],
        profile: Profile::default(),
        local: false,
        online: true,
        last_seen_at: String::new(),
        channel: false,
    }
}

fn learn(p: &Peers, peer: Peer, hb: i64) -> Upsert {
    p.observe(&peer);
    p.upsert_remote(peer, hb)
}

fn key(c: char) -> String {
    c.to_string().repeat(64)
}

#[test]
fn remote_records_are_bounded_per_member_and_in_total() {
    let (_d, c) = db();
    let p = Peers::load(&c, &key('0'), true, vec![]).unwrap();
    for i in 0..MAX_PER_MEMBER + 10 {
        learn(&p, remote(&key('a'), &format!("s{i}"), "n"), i as i64);
    }
    let of_a = p.all().iter().filter(|x| x.key == key('a')).count();
    assert_eq!(of_a, MAX_PER_MEMBER);
    assert!(
        !p.all().iter().any(|x| x.session_id == "s0"),
        "the least recently heard went first"
    );
    // Many members: the total holds.
    for i in 0..MAX_REMOTE + 10 {
        let k = format!("{i:064x}");
        learn(&p, remote(&k, "s", "n"), 1_000 + i as i64);
    }
    assert_eq!(p.all().len(), MAX_REMOTE);
    // An older record of a known session changes nothing.
    let last = format!("{:064x}", MAX_REMOTE + 9);
    assert_eq!(
        p.upsert_remote(remote(&last, "s", "renamed"), 0),
        Upsert::Stale
    );
    assert!(p.all().iter().any(|x| x.key == last && x.name == "n"));
}

#[test]
fn a_contested_name_is_ambiguous_and_a_session_goes_to_its_first_key() {
    let (_d, c) = db();
    let (ka, kx) = (key('a'), key('b'));
    let p = Peers::load(&c, &key('0'), true, vec![]).unwrap();
    learn(&p, remote(&ka, "a1", "alice"), 1);
    let alice = Address::Peer("alice".into());
    assert_eq!(
        p.resolve(&alice),
        Ok(Resolved::Direct {
            key: ka.clone(),
            session: Some("a1".into())
        })
    );
    // Another key claims the name and the session.
    let (conflicts, writes) = p.observe(&remote(&kx, "a1", "alice"));
    assert_eq!(conflicts.len(), 2, "{conflicts:?}");
    assert!(writes.is_empty());
    p.upsert_remote(remote(&kx, "a1", "alice"), 2);
    match p.resolve(&alice) {
        Err(ResolveError::Contested(_, bound, c)) => {
            assert_eq!(bound, ka);
            assert!(c.contains(&format!("{kx}/a1")) && c.contains(&format!("{ka}/a1")));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        p.resolve(&Address::Session("a1".into())),
        Ok(Resolved::Direct {
            key: ka.clone(),
            session: Some("a1".into())
        })
    );
}

#[test]
fn the_allow_list_refuses_other_keys() {
    let (_d, c) = db();
    let (ka, kx) = (key('a'), crate::identity::Identity::from_seed([5; 32]));
    let p = Peers::load(&c, &key('0'), true, vec![ka.clone()]).unwrap();
    assert!(p.admits(&ka) && p.admits(&key('0')));
    assert!(!p.admits(kx.public_hex()));
    assert_eq!(
        p.resolve(&Address::Peer(kx.public_hex().into())),
        Err(ResolveError::NotMember(kx.public_hex().into()))
    );
}
