//! `GET /livez`: the process answers. Never shed, never touches the database.

use http::StatusCode;

use super::Call;
use crate::Error;
use crate::http::response::{self, HttpResponse};
use crate::http::wire::Status;

pub async fn handle(_: Call) -> Result<HttpResponse, Error> {
    Ok(response::json(StatusCode::OK, &Status::ok()))
}
