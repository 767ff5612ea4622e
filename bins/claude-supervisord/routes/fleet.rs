//! `GET /v1/fleet`: the hosts of the fleet and where every session lives.

use super::{App, Error};
use axum::extract::State;
use axum::Json;
use claude_daemons::api::supervisor::FleetView;
use std::sync::Arc;

pub async fn view(State(app): State<Arc<App>>) -> Result<Json<FleetView>, Error> {
    match &app.fleet {
        Some(f) => Ok(Json(f.view().await)),
        None => Err(Error::new(
            "not_found",
            "no fleet: [supervisor] broker_url is not set",
        )),
    }
}
