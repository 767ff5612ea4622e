//! Answering a permission request a session relayed to its `[mesh] approvers`
//! (`claudectl mesh approve|deny ID`, the MCP tool `answer_permission`): find the relayed
//! request in this member's inbox and send the answer, as a `now` message, to the session
//! that asked; its channel (`claudectl mcp`) hands it to Claude Code.

use claude_daemons::api::mesh::{
    InboxItem, InboxPage, Priority, RelayedAnswer, RelayedPermission, SendRequest, SendResponse,
    PERMISSION_ANSWER_META, PERMISSION_REQUEST_META,
};
use claude_daemons::http::UnixClient;

/// The newest relayed request with `request_id` in the inbox (every page is read: requests
/// are rare, and an answer must go to the newest one of that id).
pub fn find(
    client: &UnixClient,
    request_id: &str,
) -> Result<(InboxItem, RelayedPermission), String> {
    let mut since = 0;
    let mut found = None;
    loop {
        let r = client
            .get(&format!("/v1/inbox?since={since}&limit=1000"))
            .map_err(|e| format!("cannot reach claude-meshd: {e}"))?;
        if r.status != 200 {
            return Err(format!(
                "claude-meshd answered HTTP {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
        let page: InboxPage = r.json().map_err(|e| format!("bad inbox page: {e}"))?;
        for item in page.items {
            let relayed = item
                .meta
                .as_ref()
                .and_then(|m| m.get(PERMISSION_REQUEST_META))
                .and_then(|v| serde_json::from_value::<RelayedPermission>(v.clone()).ok());
            if let Some(p) = relayed.filter(|p| p.request_id == request_id) {
                found = Some((item, p));
            }
        }
        if page.next_cursor == since {
            break;
        }
        since = page.next_cursor;
    }
    found.ok_or_else(|| format!("no permission request {request_id} in the inbox"))
}

/// Send `behavior` (`allow` or `deny`) for `request_id` as `from_session` (or the member).
/// Returns a line saying what was done.
pub fn answer(
    client: &UnixClient,
    request_id: &str,
    behavior: &str,
    from_session: Option<&str>,
) -> Result<String, String> {
    let (item, p) = find(client, request_id)?;
    let answer = RelayedAnswer {
        request_id: request_id.to_string(),
        behavior: behavior.to_string(),
    };
    let req = SendRequest {
        to: format!("session:{}", p.session),
        body: format!(
            "{behavior} permission request {request_id} ({}: {})",
            p.tool_name, p.description
        ),
        // One id per (request, answer): repeating an answer is a duplicate, not a second
        // message; the asking session takes only the first answer anyway.
        client_message_id: Some(format!("perm-{behavior}-{}-{request_id}", item.id)),
        priority: Some(Priority::Now),
        reply_to: Some(item.client_message_id.clone()),
        meta: Some(serde_json::json!({ PERMISSION_ANSWER_META: answer })),
        from_session: from_session.map(str::to_string),
        extra: Default::default(),
    };
    let body = serde_json::to_vec(&req).map_err(|e| e.to_string())?;
    let r = client
        .post_json("/v1/send", &body)
        .map_err(|e| format!("cannot reach claude-meshd: {e}"))?;
    if r.status >= 300 {
        return Err(format!(
            "claude-meshd refused the answer: HTTP {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ));
    }
    let sent: SendResponse = r.json().map_err(|e| format!("bad answer: {e}"))?;
    Ok(format!(
        "{behavior} sent for permission request {request_id} ({} of session {} from {}): {} {}",
        p.tool_name, p.session, item.from.name, sent.status, sent.client_message_id
    ))
}
