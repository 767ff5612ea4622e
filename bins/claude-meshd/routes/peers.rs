//! `/v1/peers` (register, list, leave) and `/v1/profile`.

use super::{body, db, query};
use crate::fields;
use crate::mesh::{ApiError, Mesh};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::Json;
use claude_daemons::api::mesh::{Member, Peer, PeerRegistration, Profile, ProfileUpdate};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
struct ListParams {
    /// Include offline and invisible peers.
    #[serde(default)]
    all: bool,
}

pub async fn list(State(mesh): State<Arc<Mesh>>, uri: Uri) -> Result<Json<Vec<Peer>>, ApiError> {
    let p: ListParams = query(&uri)?;
    Ok(Json(
        mesh.peers
            .all()
            .into_iter()
            .filter(|x| p.all || (x.online && (x.local || x.profile.visible)))
            .map(|mut x| {
                x.channel = x.local && mesh.channels.connected(&x.session_id);
                x
            })
            .collect(),
    ))
}

/// Every member (this one first), online or not, each with its sessions.
pub async fn members(
    State(mesh): State<Arc<Mesh>>,
    uri: Uri,
) -> Result<Json<Vec<Member>>, ApiError> {
    let p: ListParams = query(&uri)?;
    Ok(Json(
        mesh.peers
            .member_list(p.all)
            .into_iter()
            .map(|mut m| {
                m.sessions
                    .retain(|x| p.all || (x.online && (x.local || x.profile.visible)));
                for x in &mut m.sessions {
                    x.channel = x.local && mesh.channels.connected(&x.session_id);
                }
                m
            })
            .collect(),
    ))
}

pub async fn register(State(mesh): State<Arc<Mesh>>, raw: Bytes) -> Result<Json<Peer>, ApiError> {
    let reg: PeerRegistration = body(&raw)?;
    let m = mesh.clone();
    let (peer, joined) = mesh
        .db
        .call(move |c| m.peers.register(c, &reg, &m.display_name))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::new(400, "invalid_peer", e))?;
    if joined {
        tracing::info!(session = %peer.session_id, name = %peer.name, "session joined");
        mesh.emit_peer("peer_join", &peer).await;
    }
    mesh.presence_changed(&peer);
    Ok(Json(peer))
}

pub async fn leave(
    State(mesh): State<Arc<Mesh>>,
    Path(session): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let m = mesh.clone();
    let s = session.clone();
    match db(&mesh, move |c| m.peers.leave(c, &s)).await? {
        Some(p) => {
            mesh.emit_peer("peer_leave", &p).await;
            mesh.presence_changed(&p);
            Ok(Json(serde_json::json!({"left": true})))
        }
        None if mesh.peers.local(&session).is_some() => {
            Ok(Json(serde_json::json!({"left": false})))
        }
        None => Err(ApiError::new(
            404,
            "unknown_session",
            format!("no session {session:?}"),
        )),
    }
}

#[derive(Deserialize)]
struct ProfileParams {
    session: String,
}

pub async fn profile(State(mesh): State<Arc<Mesh>>, uri: Uri) -> Result<Json<Profile>, ApiError> {
    let p: ProfileParams = query(&uri)?;
    mesh.peers
        .local(&p.session)
        .map(|x| Json(x.profile))
        .ok_or_else(|| {
            ApiError::new(
                404,
                "unknown_session",
                format!("no session {:?}", p.session),
            )
        })
}

pub async fn update_profile(
    State(mesh): State<Arc<Mesh>>,
    raw: Bytes,
) -> Result<Json<Profile>, ApiError> {
    let u: ProfileUpdate = body(&raw)?;
    // Checked as the fields it sets: what other members and claudectl will show.
    let given = Profile {
        summary: u.summary.clone(),
        title: u.title.clone(),
        bio: u.bio.clone(),
        capabilities: u.capabilities.clone().unwrap_or_default(),
        ..Profile::default()
    };
    if let Err(e) = fields::profile(&given) {
        let status = if e.contains(" over ") { 413 } else { 400 };
        return Err(ApiError::new(status, "invalid_profile", e));
    }
    let m = mesh.clone();
    let session = u.session_id.clone();
    let status_given = u.status.is_some();
    let peer = db(&mesh, move |c| {
        m.peers.set_profile(c, &u.session_id, |p| {
            if let Some(v) = u.summary {
                p.summary = Some(v);
            }
            if let Some(v) = u.status {
                p.status = v;
            }
            if let Some(v) = u.visible {
                p.visible = v;
            }
            if let Some(v) = u.title {
                p.title = Some(v);
            }
            if let Some(v) = u.bio {
                p.bio = Some(v);
            }
            if let Some(v) = u.capabilities {
                p.capabilities = v;
            }
        })
    })
    .await?
    .ok_or_else(|| ApiError::new(404, "unknown_session", format!("no session {session:?}")))?;
    if status_given {
        mesh.status_changed(&peer).await;
    } else {
        mesh.presence_changed(&peer);
    }
    Ok(Json(peer.profile))
}
