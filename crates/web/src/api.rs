//! The JSON API under `/api/v1/`: everything the pages do, for scripts and other systems. A client
//! signs in with `POST /session` and sends the returned token as `Authorization: Bearer …`; the
//! token is bound to that one account and expires like a browser session. Times are ISO 8601 (UTC),
//! dates ISO (YYYY-MM-DD). The OpenAPI document is generated from these handlers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use nhiguard_app::{AppError, SessionKind, catalogue as cat, org};
use nhiguard_domain::catalogue::{Linkage, Operation, Purpose, Status};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::AppState;
use crate::ctx::{ApiQuerier, ApiUser, Ctx};
use crate::error::ApiError;

type ApiResult<T> = Result<Json<T>, ApiError>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/session", post(session_create).delete(session_delete))
        .route("/me", get(me))
        .route("/org", get(org_list))
        .route("/org/{id}", get(org_get))
        .route("/org/{id}/children", post(org_child))
        .route("/org/{id}/people", post(org_person))
        .route("/org/{id}/case-pattern", put(org_case_pattern))
        .route("/people/{id}/hr-status", put(person_hr))
        .route("/people/{id}/email", put(person_email))
        .route("/purposes", get(purposes).post(purpose_create))
        .route("/purposes/{id}", get(purpose_get).put(purpose_update))
        .route("/purposes/{id}/status", put(purpose_status))
        .route("/operations", get(operations).post(operation_create))
        .route("/operations/{id}/status", put(operation_status))
        .route("/linkages", get(linkages).post(linkage_create))
        .route("/linkages/{id}/status", put(linkage_status))
        .route("/query-options", get(query_options))
        .route("/queries", get(queries).post(query_run))
        .route("/query-log", get(query_log))
        .route("/query-log/export.{ext}", get(query_log_export))
        .route("/results/{id}", get(result_get).delete(result_delete))
        .route("/results/{id}/attached", put(result_attach))
        .route("/results/{id}/shares", post(result_share))
        .route("/results/{id}/shares/{account}", delete(result_unshare))
        .route(
            "/batches",
            post(batch_upload)
                .layer(axum::extract::DefaultBodyLimit::max(crate::batch::UPLOAD_LIMIT))
                .layer(axum::middleware::from_fn(crate::batch::mark_oversize)),
        )
        .route("/batches/{id}", get(batch_get).delete(batch_delete))
        .route("/batches/{id}/result.csv", get(batch_csv))
        .route("/batches/{id}/attached", put(batch_attach))
        .route("/applications", get(applications).post(application_file))
        .route("/applications/{id}", get(application_get))
        .route("/applications/{id}/{step}", post(application_step))
        .route("/me/password", put(password_put))
        .route("/me/totp", post(totp_begin).put(totp_confirm))
        .route("/handover", post(handover_post))
        .route("/accounts/{id}/disable-date", put(disable_date_put))
        .route("/accounts/{id}/totp-reset", post(totp_reset))
        .route("/accounts/{id}/password-reset", post(password_reset))
        .route("/reviews", get(reviews_list))
        .route("/reviews/prepare", post(reviews_prepare))
        .route("/reviews/{id}", get(review_get))
        .route("/reviews/{id}/reviewer", post(review_assign))
        .route("/reviews/{id}/findings/{seq}", put(review_finding))
        .route("/reviews/{id}/sign", post(review_sign))
        .route("/account-reviews", get(account_reviews_list).post(account_review_start))
        .route("/account-reviews/{id}", get(account_review_get))
        .route("/account-reviews/{id}/accounts/{account}", put(account_review_decide))
        .route("/account-reviews/{id}/apply", post(account_review_apply))
        .route("/calendar", get(calendar_get))
        .route("/calendar/{year}", put(calendar_put))
        .route("/investigations", get(investigations_list))
        .route("/investigations/{id}", get(investigation_get))
        .route("/investigations/{id}/members", put(investigation_members))
        .route("/investigations/{id}/take-over", post(investigation_take_over))
        .route("/investigations/{id}/steps", post(investigation_step))
        .route("/investigations/{id}/evidence", post(investigation_evidence))
        .route("/investigations/{id}/conclude", post(investigation_conclude))
        .route("/ledger/integrity", get(ledger_integrity))
        .route("/ledger/verify", post(ledger_verify))
        .route("/ledger/checkpoints", post(ledger_checkpoint))
        .route("/ledger/entries/{seq}/proof", get(ledger_proof))
        .fallback(api_not_found)
}

async fn api_not_found() -> ApiError {
    ApiError(AppError::not_found("找不到此 API 路徑", "no such API path"))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "nhiguard API",
        description = "健保資料查詢管理系統 API. Sign in with POST /api/v1/session, then send `Authorization: Bearer <token>`."
    ),
    paths(
        session_create,
        session_delete,
        me,
        org_list,
        org_get,
        org_case_pattern,
        org_child,
        org_person,
        person_hr,
        purposes,
        purpose_get,
        purpose_create,
        purpose_update,
        purpose_status,
        operations,
        operation_create,
        operation_status,
        linkages,
        linkage_create,
        linkage_status,
        ledger_integrity,
        ledger_verify,
        ledger_checkpoint,
        ledger_proof,
        query_options,
        query_run,
        queries,
        query_log_export,
        query_log,
        result_get,
        result_delete,
        applications,
        application_file,
        application_get,
        application_step,
        password_put,
        disable_date_put,
        batch_upload,
        batch_get,
        batch_delete,
        batch_csv,
        result_attach,
        batch_attach,
        reviews_list,
        reviews_prepare,
        review_get,
        review_assign,
        review_finding,
        review_sign,
        account_reviews_list,
        account_review_start,
        account_review_get,
        account_review_decide,
        account_review_apply,
        calendar_get,
        calendar_put,
        investigations_list,
        investigation_get,
        investigation_members,
        investigation_take_over,
        investigation_step,
        investigation_evidence,
        investigation_conclude,
        result_share,
        result_unshare,
        totp_begin,
        totp_reset,
        password_reset,
        totp_confirm,
        person_email,
        handover_post
    ),
    components(schemas(ErrorBody, ErrorDetail))
)]
pub struct ApiDoc;

async fn openapi() -> Response {
    match ApiDoc::openapi().to_pretty_json() {
        Ok(s) => ([(axum::http::header::CONTENT_TYPE, "application/json")], s).into_response(),
        Err(e) => ApiError(AppError::Internal(e.to_string())).into_response(),
    }
}

/// Every error: a stable code, the field at fault (for 422), the message in both languages, and
/// for server faults a reference to quote.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    code: String,
    field: Option<String>,
    message_zh: String,
    message_en: String,
    reference: Option<String>,
}

// ---- session ----

#[derive(Deserialize, ToSchema)]
pub struct SessionRequest {
    username: String,
    password: String,
    /// The second factor's six digits, for accounts that set one up.
    #[serde(default)]
    totp: String,
}

#[derive(Serialize, ToSchema)]
pub struct SessionResponse {
    token: String,
    token_type: &'static str,
    /// The token stops working after this many minutes without a request.
    idle_timeout_minutes: i64,
    account: Me,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    id: i64,
    username: String,
    name: String,
    title: String,
    org_node_id: i64,
    roles: Vec<String>,
}

fn me_of(c: &nhiguard_app::Current) -> Me {
    Me {
        id: c.account_id,
        username: c.username.clone(),
        name: c.person_name.clone(),
        title: c.person_title.clone(),
        org_node_id: c.org_node_id,
        roles: c.roles.iter().map(|r| r.code().to_owned()).collect(),
    }
}

fn json_body<T>(body: Result<Json<T>, axum::extract::rejection::JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(v)| v).map_err(|e| {
        ApiError(AppError::invalid(
            "body",
            format!("JSON 內容有誤：{}", e.body_text()),
            format!("the JSON body is wrong: {}", e.body_text()),
        ))
    })
}

/// Sign in and receive a bearer token.
#[utoipa::path(post, path = "/api/v1/session", request_body = SessionRequest,
    responses((status = 200, body = SessionResponse), (status = 401, body = ErrorBody)))]
async fn session_create(
    State(s): State<AppState>,
    ctx: Ctx,
    body: Result<Json<SessionRequest>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<SessionResponse> {
    let req = json_body(body)?;
    let signed = s.app.sign_in(&req.username, &req.password, &req.totp, SessionKind::Api, &ctx.addr).await?;
    let current = s.app.current(&signed.token, SessionKind::Api, &ctx.addr).await?;
    Ok(Json(SessionResponse {
        token: signed.token,
        token_type: "Bearer",
        idle_timeout_minutes: signed.expires_in_minutes,
        account: me_of(&current),
    }))
}

/// Sign out: the token stops working at once.
#[utoipa::path(delete, path = "/api/v1/session", responses((status = 204), (status = 401, body = ErrorBody)))]
async fn session_delete(State(s): State<AppState>, u: ApiUser) -> Result<StatusCode, ApiError> {
    s.app.sign_out(&u.token, &u.current).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/v1/me", responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn me(u: ApiUser) -> Json<Me> {
    Json(me_of(&u.current))
}

// ---- organisation ----

#[derive(Serialize, ToSchema)]
pub struct OrgNodeDto {
    id: i64,
    parent_id: Option<i64>,
    kind: String,
    code: String,
    name_zh: String,
    name_en: String,
    has_sections: bool,
    active: bool,
    /// Depth below the top of the branch listed (0 for the top).
    depth: usize,
}

fn node_dto(depth: usize, n: &nhiguard_domain::org::OrgNode) -> OrgNodeDto {
    OrgNodeDto {
        id: n.id,
        parent_id: n.parent_id,
        kind: n.kind.code().into(),
        code: n.code.clone(),
        name_zh: n.name_zh.clone(),
        name_en: n.name_en.clone(),
        has_sections: n.has_sections,
        active: n.active,
        depth,
    }
}

#[derive(Serialize, ToSchema)]
pub struct PersonDto {
    id: i64,
    person_id: String,
    name: String,
    title: String,
    rank: String,
    hr_status: String,
    org_node_id: i64,
}

#[derive(Serialize, ToSchema)]
pub struct AccountDto {
    id: i64,
    username: String,
    person_ref: i64,
    status: String,
    roles: Vec<String>,
    last_sign_in_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OrgNodeDetail {
    node: OrgNodeDto,
    path: Vec<OrgNodeDto>,
    children: Vec<OrgNodeDto>,
    people: Vec<PersonDto>,
    accounts: Vec<AccountDto>,
    /// The case-number format of the node's agency (R-QRY-1), if set.
    case_pattern: Option<String>,
}

/// The org nodes within the caller's reach, depth-first.
#[utoipa::path(get, path = "/api/v1/org", responses((status = 200, body = [OrgNodeDto]), (status = 401, body = ErrorBody)))]
async fn org_list(State(s): State<AppState>, u: ApiUser) -> ApiResult<Vec<OrgNodeDto>> {
    let list = s.app.org_overview(&u.current).await?;
    Ok(Json(list.iter().map(|(d, n)| node_dto(*d, n)).collect()))
}

/// One org node with its people and accounts (403 outside the caller's branch).
#[utoipa::path(get, path = "/api/v1/org/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = OrgNodeDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn org_get(State(s): State<AppState>, u: ApiUser, Path(id): Path<i64>) -> ApiResult<OrgNodeDetail> {
    let d = s.app.org_node(&u.current, id).await?;
    Ok(Json(OrgNodeDetail {
        node: node_dto(0, &d.node),
        path: d.path.iter().map(|n| node_dto(0, n)).collect(),
        children: d.children.iter().map(|n| node_dto(1, n)).collect(),
        people: d
            .people
            .iter()
            .map(|p| PersonDto {
                id: p.id,
                person_id: p.person_id.to_string(),
                name: p.name.clone(),
                title: p.title.clone(),
                rank: p.rank.code().into(),
                hr_status: p.hr_status.code().into(),
                org_node_id: p.org_node_id,
            })
            .collect(),
        accounts: d
            .accounts
            .iter()
            .map(|a| AccountDto {
                id: a.id,
                username: a.username.clone(),
                person_ref: a.person_ref,
                status: a.status.clone(),
                roles: a.roles.iter().map(|r| r.code().to_owned()).collect(),
                last_sign_in_at: a.last_sign_in_at.map(|t| t.to_rfc3339()),
            })
            .collect(),
        case_pattern: d.case_pattern,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct CasePatternBody {
    /// E.g. `{年}-兒保-{數字6}`; empty clears it.
    #[serde(default)]
    pattern: String,
}

/// Set an agency's case-number format (its agency admin or the planning department).
#[utoipa::path(put, path = "/api/v1/org/{id}/case-pattern", params(("id" = i64, Path)), request_body = CasePatternBody,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn org_case_pattern(
    State(s): State<AppState>,
    u: ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<CasePatternBody>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let b = json_body(body)?;
    s.app.set_case_pattern(&u.current, id, &b.pattern).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct NewChild {
    code: String,
    name_zh: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    has_sections: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Created {
    id: i64,
}

/// Add a unit (or, under the county, an agency).
#[utoipa::path(post, path = "/api/v1/org/{id}/children", params(("id" = i64, Path)), request_body = NewChild,
    responses((status = 201, body = Created), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn org_child(
    State(s): State<AppState>,
    u: ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<NewChild>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let b = json_body(body)?;
    let input = org::NewChildInput {
        code: b.code,
        name_zh: b.name_zh,
        name_en: b.name_en,
        has_sections: b.has_sections.then(|| "on".into()),
    };
    let id = s.app.create_org_child(&u.current, id, &input).await?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

#[derive(Deserialize, ToSchema)]
pub struct NewPerson {
    person_id: String,
    name: String,
    #[serde(default)]
    title: String,
    /// head, deputy_head, division_chief, section_chief, staff, assistant, contractor
    rank: String,
    /// Where the activation link goes when SMTP is configured.
    #[serde(default)]
    email: String,
}

/// Add a person at an org node.
#[utoipa::path(post, path = "/api/v1/org/{id}/people", params(("id" = i64, Path)), request_body = NewPerson,
    responses((status = 201, body = Created), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn org_person(
    State(s): State<AppState>,
    u: ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<NewPerson>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let b = json_body(body)?;
    let input =
        org::NewPersonInput { person_id: b.person_id, name: b.name, title: b.title, rank: b.rank, email: b.email };
    let id = s.app.create_person(&u.current, id, &input).await?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

#[derive(Deserialize, ToSchema)]
pub struct HrStatusBody {
    /// active, moved, resigned, retired
    hr_status: String,
}

/// Record a person's HR status.
#[utoipa::path(put, path = "/api/v1/people/{id}/hr-status", params(("id" = i64, Path)), request_body = HrStatusBody,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn person_hr(
    State(s): State<AppState>,
    u: ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<HrStatusBody>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let b = json_body(body)?;
    s.app.set_hr_status(&u.current, id, &b.hr_status).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- catalogue ----

#[derive(Serialize, ToSchema)]
pub struct PurposeDto {
    id: i64,
    number: i64,
    name_zh: String,
    name_en: String,
    legal_basis: String,
    nhia_approval_ref: String,
    nhia_approval_date: Option<String>,
    status: String,
}

impl From<Purpose> for PurposeDto {
    fn from(p: Purpose) -> Self {
        Self {
            id: p.id,
            number: p.number,
            name_zh: p.name_zh,
            name_en: p.name_en,
            legal_basis: p.legal_basis,
            nhia_approval_ref: p.nhia_approval_ref,
            nhia_approval_date: p.nhia_approval_date.map(|d| d.to_string()),
            status: p.status.code().into(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct OperationDto {
    id: i64,
    code: String,
    name_zh: String,
    name_en: String,
    conditions: Vec<String>,
    results: Vec<String>,
    status: String,
}

impl From<Operation> for OperationDto {
    fn from(o: Operation) -> Self {
        Self {
            id: o.id,
            code: o.code,
            name_zh: o.name_zh,
            name_en: o.name_en,
            conditions: o.conditions.iter().map(|c| c.code().into()).collect(),
            results: o.results.iter().map(|c| c.code().into()).collect(),
            status: o.status.code().into(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct LinkageDto {
    id: i64,
    agency_id: i64,
    purpose_id: i64,
    operation_id: i64,
    nhia_approval_ref: String,
    nhia_approval_date: Option<String>,
    status: String,
}

impl From<Linkage> for LinkageDto {
    fn from(l: Linkage) -> Self {
        Self {
            id: l.id,
            agency_id: l.agency_id,
            purpose_id: l.purpose_id,
            operation_id: l.operation_id,
            nhia_approval_ref: l.nhia_approval_ref,
            nhia_approval_date: l.nhia_approval_date.map(|d| d.to_string()),
            status: l.status.code().into(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct PurposeBody {
    /// Item number; omitted: the next free one.
    #[serde(default)]
    number: Option<i64>,
    name_zh: String,
    #[serde(default)]
    name_en: String,
    legal_basis: String,
    #[serde(default)]
    nhia_approval_ref: String,
    /// YYYY-MM-DD or ROC 115/11/27
    #[serde(default)]
    nhia_approval_date: String,
}

impl From<PurposeBody> for cat::PurposeInput {
    fn from(b: PurposeBody) -> Self {
        cat::PurposeInput {
            number: b.number.map(|n| n.to_string()),
            name_zh: b.name_zh,
            name_en: b.name_en,
            legal_basis: b.legal_basis,
            nhia_approval_ref: b.nhia_approval_ref,
            nhia_approval_date: b.nhia_approval_date,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct StatusBody {
    /// active or retired
    status: String,
}

fn status_of(b: &StatusBody) -> Result<Status, ApiError> {
    Status::from_code(&b.status).ok_or_else(|| {
        ApiError(AppError::invalid("status", "狀態須為 active 或 retired", "status is active or retired"))
    })
}

/// The purpose catalogue (R-PUR-1).
#[utoipa::path(get, path = "/api/v1/purposes", responses((status = 200, body = [PurposeDto]), (status = 401, body = ErrorBody)))]
async fn purposes(State(s): State<AppState>, u: ApiUser) -> ApiResult<Vec<PurposeDto>> {
    Ok(Json(s.app.purposes(&u.current).await?.into_iter().map(Into::into).collect()))
}

/// One purpose.
#[utoipa::path(get, path = "/api/v1/purposes/{id}", params(("id" = i64, Path)), responses((status = 200, body = PurposeDto), (status = 404, body = ErrorBody)))]
async fn purpose_get(State(s): State<AppState>, u: ApiUser, Path(id): Path<i64>) -> ApiResult<PurposeDto> {
    Ok(Json(s.app.purpose_detail(&u.current, id).await?.purpose.into()))
}

/// Add a purpose (planning department only).
#[utoipa::path(post, path = "/api/v1/purposes", request_body = PurposeBody,
    responses((status = 201, body = PurposeDto), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn purpose_create(
    State(s): State<AppState>,
    u: ApiUser,
    body: Result<Json<PurposeBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<PurposeDto>), ApiError> {
    let p = s.app.create_purpose(&u.current, &json_body(body)?.into()).await?;
    Ok((StatusCode::CREATED, Json(p.into())))
}

/// Edit a purpose (planning department only); the change is kept in its history.
#[utoipa::path(put, path = "/api/v1/purposes/{id}", params(("id" = i64, Path)), request_body = PurposeBody,
    responses((status = 200, body = PurposeDto), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn purpose_update(
    State(s): State<AppState>,
    u: ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<PurposeBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<PurposeDto> {
    Ok(Json(s.app.update_purpose(&u.current, id, &json_body(body)?.into()).await?.into()))
}

/// Retire or reactivate a purpose (R-PUR-2).
#[utoipa::path(put, path = "/api/v1/purposes/{id}/status", params(("id" = i64, Path)), request_body = StatusBody,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn purpose_status(
    State(s): State<AppState>,
    u: ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<StatusBody>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let to = status_of(&json_body(body)?)?;
    s.app.set_purpose_status(&u.current, id, to).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct OperationBody {
    code: String,
    name_zh: String,
    #[serde(default)]
    name_en: String,
    conditions: Vec<String>,
    results: Vec<String>,
}

/// The NHIA operations.
#[utoipa::path(get, path = "/api/v1/operations", responses((status = 200, body = [OperationDto])))]
async fn operations(State(s): State<AppState>, u: ApiUser) -> ApiResult<Vec<OperationDto>> {
    Ok(Json(s.app.operations(&u.current).await?.into_iter().map(Into::into).collect()))
}

/// Add an operation (planning department only).
#[utoipa::path(post, path = "/api/v1/operations", request_body = OperationBody,
    responses((status = 201, body = OperationDto), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn operation_create(
    State(s): State<AppState>,
    u: ApiUser,
    body: Result<Json<OperationBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<OperationDto>), ApiError> {
    let b = json_body(body)?;
    let input = cat::OperationInput {
        code: b.code,
        name_zh: b.name_zh,
        name_en: b.name_en,
        conditions: b.conditions.join(","),
        results: b.results.join(","),
    };
    let o = s.app.create_operation(&u.current, &input).await?;
    Ok((StatusCode::CREATED, Json(o.into())))
}

/// Retire or reactivate an operation.
#[utoipa::path(put, path = "/api/v1/operations/{id}/status", params(("id" = i64, Path)), request_body = StatusBody,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn operation_status(
    State(s): State<AppState>,
    u: ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<StatusBody>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let to = status_of(&json_body(body)?)?;
    s.app.set_operation_status(&u.current, id, to).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct LinkageBody {
    agency_id: i64,
    purpose_id: i64,
    operation_id: i64,
    nhia_approval_ref: String,
    #[serde(default)]
    nhia_approval_date: String,
}

/// The linkages within the caller's reach.
#[utoipa::path(get, path = "/api/v1/linkages", responses((status = 200, body = [LinkageDto])))]
async fn linkages(State(s): State<AppState>, u: ApiUser) -> ApiResult<Vec<LinkageDto>> {
    Ok(Json(s.app.linkages(&u.current).await?.into_iter().map(Into::into).collect()))
}

/// Record an NHIA-approved linkage (planning department only).
#[utoipa::path(post, path = "/api/v1/linkages", request_body = LinkageBody,
    responses((status = 201, body = LinkageDto), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn linkage_create(
    State(s): State<AppState>,
    u: ApiUser,
    body: Result<Json<LinkageBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<LinkageDto>), ApiError> {
    let b = json_body(body)?;
    let input = cat::LinkageInput {
        agency_id: b.agency_id,
        purpose_id: b.purpose_id,
        operation_id: b.operation_id,
        nhia_approval_ref: b.nhia_approval_ref,
        nhia_approval_date: b.nhia_approval_date,
    };
    let l = s.app.create_linkage(&u.current, &input).await?;
    Ok((StatusCode::CREATED, Json(l.into())))
}

/// End or reactivate a linkage.
#[utoipa::path(put, path = "/api/v1/linkages/{id}/status", params(("id" = i64, Path)), request_body = StatusBody,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn linkage_status(
    State(s): State<AppState>,
    u: ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<StatusBody>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let to = status_of(&json_body(body)?)?;
    s.app.set_linkage_status(&u.current, id, to).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- ledger (R-LOG-2) ----

#[derive(Serialize, ToSchema)]
pub struct CheckpointDto {
    size: u64,
    /// ISO 8601, UTC.
    at: String,
    /// Base64 Merkle root.
    root: String,
    /// The signed checkpoint as text (C2SP signed note).
    text: String,
}

fn checkpoint_dto(c: nhiguard_app::StoredCheckpoint) -> CheckpointDto {
    CheckpointDto { size: c.size, at: nhiguard_app::from_micros(c.at).to_rfc3339(), root: c.root, text: c.text }
}

#[derive(Serialize, ToSchema)]
pub struct IntegrityDto {
    deployment_id: String,
    public_key: String,
    ledger_size: u64,
    checkpoints: usize,
    latest_checkpoint: Option<CheckpointDto>,
}

/// The public key and the latest signed checkpoint (auditors, ethics officers, planning department).
#[utoipa::path(get, path = "/api/v1/ledger/integrity", responses((status = 200, body = IntegrityDto), (status = 403, body = ErrorBody)))]
async fn ledger_integrity(State(s): State<AppState>, u: ApiUser) -> ApiResult<IntegrityDto> {
    let v = s.app.integrity(&u.current).await?;
    Ok(Json(IntegrityDto {
        deployment_id: v.deployment_id,
        public_key: v.public_key,
        ledger_size: v.ledger_size,
        checkpoints: v.checkpoints,
        latest_checkpoint: v.latest.map(checkpoint_dto),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct VerifyDto {
    ok: bool,
    entries_checked: u64,
    checkpoints_checked: u64,
    signed_size: u64,
    root: Option<String>,
    failure_code: Option<String>,
    failure_message: Option<String>,
}

/// Verify the whole log against every signed checkpoint; the reading is recorded.
#[utoipa::path(post, path = "/api/v1/ledger/verify", responses((status = 200, body = VerifyDto), (status = 403, body = ErrorBody)))]
async fn ledger_verify(State(s): State<AppState>, u: ApiUser) -> ApiResult<VerifyDto> {
    let v = s.app.verify_for(&u.current).await?;
    let r = v.report;
    Ok(Json(VerifyDto {
        ok: r.is_ok(),
        entries_checked: r.entries_checked,
        checkpoints_checked: r.checkpoints_checked,
        signed_size: r.signed_size,
        root: r.root.map(|h| h.to_base64()),
        failure_code: r.failure.as_ref().map(|f| f.code().to_owned()),
        failure_message: r.failure.map(|f| f.message()),
    }))
}

/// Sign a checkpoint now; 200 with `null` when nothing was added since the last one.
#[utoipa::path(post, path = "/api/v1/ledger/checkpoints", responses((status = 201, body = CheckpointDto), (status = 200), (status = 403, body = ErrorBody)))]
async fn ledger_checkpoint(State(s): State<AppState>, u: ApiUser) -> Result<Response, ApiError> {
    Ok(match s.app.checkpoint_for(&u.current).await? {
        Some(c) => (StatusCode::CREATED, Json(checkpoint_dto(c))).into_response(),
        None => (StatusCode::OK, Json(serde_json::Value::Null)).into_response(),
    })
}

#[derive(Serialize, ToSchema)]
pub struct ProofDto {
    seq: u64,
    kind: String,
    actor: String,
    at: String,
    fields: Vec<(String, String)>,
    /// True when the entry names an agency outside the caller's branch: `actor` and `fields` are
    /// then empty, and the proof shows only that `leaf_hash` is in the log.
    withheld: bool,
    /// Hex SHA-256 leaf hash (RFC 9162).
    leaf_hash: String,
    tree_size: u64,
    /// Hex hashes, from the leaf up.
    proof: Vec<String>,
    checkpoint: String,
}

/// One entry and the proof that it is in the log as of the latest checkpoint covering it.
#[utoipa::path(get, path = "/api/v1/ledger/entries/{seq}/proof", params(("seq" = u64, Path)),
    responses((status = 200, body = ProofDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn ledger_proof(State(s): State<AppState>, u: ApiUser, Path(seq): Path<u64>) -> ApiResult<ProofDto> {
    let inc = s.app.inclusion_for(&u.current, seq).await?;
    Ok(Json(ProofDto {
        seq,
        kind: inc.entry.kind().code().to_owned(),
        actor: inc.entry.actor().to_owned(),
        at: nhiguard_app::from_micros(inc.entry.at_micros()).to_rfc3339(),
        fields: inc.entry.fields().to_vec(),
        withheld: inc.withheld,
        leaf_hash: inc.leaf.to_hex(),
        tree_size: inc.tree_size,
        proof: inc.proof.iter().map(|h| h.to_hex()).collect(),
        checkpoint: inc.checkpoint,
    }))
}

// ---- queries (R-QRY-1 … R-QRY-6, R-LOG-1) ----

#[derive(Serialize, ToSchema)]
pub struct QueryOptionDto {
    purpose_id: i64,
    purpose_number: i64,
    purpose_name_zh: String,
    operations: Vec<OperationDto>,
}

/// The purposes and operations the caller may query now.
#[utoipa::path(get, path = "/api/v1/query-options", responses((status = 200, body = [QueryOptionDto])))]
async fn query_options(State(s): State<AppState>, u: ApiUser) -> ApiResult<Vec<QueryOptionDto>> {
    let options = s.app.query_options(&u.current).await?;
    Ok(Json(
        options
            .into_iter()
            .map(|o| QueryOptionDto {
                purpose_id: o.purpose.id,
                purpose_number: o.purpose.number,
                purpose_name_zh: o.purpose.name_zh,
                operations: o.operations.into_iter().map(Into::into).collect(),
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct QueryBody {
    purpose_id: i64,
    operation_id: i64,
    case_number: String,
    reason: String,
    /// For operations that take a national ID or resident certificate number.
    #[serde(default)]
    national_id: String,
    /// For operations that take a name and date of birth.
    #[serde(default)]
    name: String,
    /// YYYY-MM-DD or ROC 70/05/17.
    #[serde(default)]
    birth_date: String,
}

#[derive(Serialize, ToSchema)]
pub struct QueryAnswerDto {
    /// The query's entry in the ledger.
    query_seq: u64,
    /// answered, not_found or nhia_error (refusals are 403/422 errors, also recorded).
    outcome: String,
    result_id: Option<i64>,
    /// One object per record: result field code → value.
    records: Vec<std::collections::BTreeMap<String, String>>,
    message_zh: Option<String>,
    message_en: Option<String>,
    /// ISO 8601: when the kept result will be purged.
    purge_after: Option<String>,
}

fn records_dto(
    records: &[Vec<(nhiguard_domain::catalogue::ResultField, String)>],
) -> Vec<std::collections::BTreeMap<String, String>> {
    records.iter().map(|r| r.iter().map(|(f, v)| (f.code().to_owned(), v.clone())).collect()).collect()
}

/// Run one query. Refusals (403) and bad input (422) are recorded in the ledger too.
#[utoipa::path(post, path = "/api/v1/queries", request_body = QueryBody,
    responses((status = 200, body = QueryAnswerDto), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn query_run(
    State(s): State<AppState>,
    ApiQuerier(u): ApiQuerier,
    body: Result<Json<QueryBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<QueryAnswerDto> {
    let b = json_body(body)?;
    let input = nhiguard_app::gateway::QueryInput {
        purpose_id: b.purpose_id,
        operation_id: b.operation_id,
        case_number: b.case_number,
        reason: b.reason,
        national_id: b.national_id,
        name: b.name,
        birth_date: b.birth_date,
    };
    let a = s.app.run_query(&u.current, &input).await?;
    Ok(Json(QueryAnswerDto {
        query_seq: a.query_seq,
        outcome: a.outcome.code().to_owned(),
        result_id: a.result_id,
        records: records_dto(&a.records),
        message_zh: a.message.as_ref().map(|m| m.zh.clone()),
        message_en: a.message.map(|m| m.en),
        purge_after: a.purge_after.map(|t| t.to_rfc3339()),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct HistoryDto {
    seq: u64,
    at: String,
    username: String,
    agency_id: Option<i64>,
    purpose: String,
    operation: String,
    case_number: String,
    reason: String,
    /// Masked.
    subject: String,
    outcome: String,
    detail: String,
}

/// The caller's own queries, newest first, subjects masked.
#[utoipa::path(get, path = "/api/v1/queries", responses((status = 200, body = [HistoryDto])))]
async fn queries(State(s): State<AppState>, u: ApiUser) -> ApiResult<Vec<HistoryDto>> {
    let rows = s.app.my_history(&u.current, 500).await?;
    Ok(Json(rows.into_iter().map(log_dto).collect()))
}

fn log_dto(h: nhiguard_app::querylog::LogRow) -> HistoryDto {
    HistoryDto {
        seq: h.seq,
        at: h.at.to_rfc3339(),
        username: h.username,
        agency_id: h.agency_id,
        purpose: h.purpose,
        operation: h.operation,
        case_number: h.case_number,
        reason: h.reason,
        subject: h.subject_masked,
        outcome: h.outcome.code().to_owned(),
        detail: h.detail,
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct LogQuery {
    /// First day (YYYY-MM-DD or ROC 115/11/01); default 31 days before `to`.
    #[serde(default)]
    from: String,
    /// Last day, included; default today.
    #[serde(default)]
    to: String,
    #[serde(default)]
    agency_id: Option<i64>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    case_number: String,
}

/// Export a search of the query log as CSV (UTF-8 with BOM), ODS, or JSON Lines with inclusion
/// proofs; the export is recorded.
#[utoipa::path(get, path = "/api/v1/query-log/export.{ext}", params(("ext" = String, Path, description = "csv, ods or jsonl"), LogQuery),
    responses((status = 200), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn query_log_export(
    State(s): State<AppState>,
    u: ApiUser,
    Path(ext): Path<String>,
    axum::extract::Query(q): axum::extract::Query<LogQuery>,
) -> Result<Response, ApiError> {
    let format = nhiguard_app::querylog::ExportFormat::from_ext(&ext)
        .ok_or_else(|| ApiError(AppError::not_found("沒有這種格式", "no such format")))?;
    let filter = nhiguard_app::querylog::LogFilter {
        from: q.from,
        to: q.to,
        agency_id: q.agency_id,
        username: q.username,
        case_number: q.case_number,
    };
    let (name, bytes) = s.app.export_log(&u.current, &filter, format).await?;
    Ok(crate::querylog::attachment(&name, format, bytes))
}

/// Search the query log within the caller's reach (supervisors, reviewers, auditors, ethics
/// officers, planning department); the search itself is recorded.
#[utoipa::path(get, path = "/api/v1/query-log", params(LogQuery),
    responses((status = 200, body = [HistoryDto]), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn query_log(
    State(s): State<AppState>,
    u: ApiUser,
    axum::extract::Query(q): axum::extract::Query<LogQuery>,
) -> ApiResult<Vec<HistoryDto>> {
    let filter = nhiguard_app::querylog::LogFilter {
        from: q.from,
        to: q.to,
        agency_id: q.agency_id,
        username: q.username,
        case_number: q.case_number,
    };
    let (rows, _, _) = s.app.search_log(&u.current, &filter).await?;
    Ok(Json(rows.into_iter().map(log_dto).collect()))
}

#[derive(Serialize, ToSchema)]
pub struct ResultDto {
    id: i64,
    query_seq: u64,
    case_number: String,
    operation: String,
    purge_after: String,
    records: Vec<std::collections::BTreeMap<String, String>>,
}

/// A kept result, for the person who asked only; opening it is recorded.
#[utoipa::path(get, path = "/api/v1/results/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = ResultDto), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn result_get(State(s): State<AppState>, u: ApiUser, Path(id): Path<i64>) -> ApiResult<ResultDto> {
    let (row, records) = s.app.open_result(&u.current, id).await?;
    Ok(Json(ResultDto {
        id: row.id,
        query_seq: row.query_seq,
        case_number: row.case_number.clone(),
        operation: row.operation_code.clone(),
        purge_after: row.purge_after.to_rfc3339(),
        records: records_dto(&records),
    }))
}

/// Destroy a kept result now (recorded as a destruction, without the data).
#[utoipa::path(delete, path = "/api/v1/results/{id}", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn result_delete(State(s): State<AppState>, u: ApiUser, Path(id): Path<i64>) -> Result<StatusCode, ApiError> {
    s.app.delete_result(&u.current, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- account governance (R-ACC-1 … R-ACC-8) ----

#[derive(Serialize, ToSchema)]
pub struct ApplicationDto {
    id: i64,
    kind: String,
    state: String,
    org_node_id: i64,
    person_ref: i64,
    account_id: Option<i64>,
    username: String,
    roles: Vec<String>,
    /// `purpose_id:operation_id`
    grants: Vec<String>,
    reason: String,
    pledge: bool,
    created_by: i64,
    created_at: String,
    decided_by: Option<i64>,
    decision_note: String,
    carried_out_by: Option<i64>,
}

fn application_dto(a: nhiguard_app::governance::ApplicationRow) -> ApplicationDto {
    let split = |s: &str| s.split(',').filter(|x| !x.is_empty()).map(str::to_owned).collect();
    ApplicationDto {
        id: a.id,
        kind: a.kind,
        state: a.state,
        org_node_id: a.org_node_id,
        person_ref: a.person_ref,
        account_id: a.account_id,
        username: a.username,
        roles: split(&a.roles),
        grants: split(&a.grants),
        reason: a.reason,
        pledge: a.pledge,
        created_by: a.created_by,
        created_at: a.created_at.to_rfc3339(),
        decided_by: a.decided_by,
        decision_note: a.decision_note,
        carried_out_by: a.carried_out_by,
    }
}

/// Applications of the caller's branch (admins and supervisors).
#[utoipa::path(get, path = "/api/v1/applications", responses((status = 200, body = [ApplicationDto])))]
async fn applications(State(s): State<AppState>, u: ApiUser) -> ApiResult<Vec<ApplicationDto>> {
    Ok(Json(s.app.applications(&u.current).await?.into_iter().map(application_dto).collect()))
}

#[derive(Deserialize, ToSchema)]
pub struct ApplicationBody {
    /// new_account, change_grants, reenable, removal
    kind: String,
    person_ref: i64,
    #[serde(default)]
    account_id: Option<i64>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    roles: Vec<String>,
    /// `purpose_id:operation_id`
    #[serde(default)]
    grants: Vec<String>,
    reason: String,
    /// The applicant's confidentiality pledge (保密切結) was signed.
    #[serde(default)]
    pledge: bool,
}

/// File an application (a draft) for a person in the caller's branch.
#[utoipa::path(post, path = "/api/v1/applications", request_body = ApplicationBody,
    responses((status = 201, body = Created), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn application_file(
    State(s): State<AppState>,
    u: ApiUser,
    body: Result<Json<ApplicationBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let b = json_body(body)?;
    let input = nhiguard_app::governance::ApplicationInput {
        kind: b.kind,
        person_ref: b.person_ref,
        account_id: b.account_id,
        username: b.username,
        roles: b.roles.join(","),
        grants: b.grants.join(","),
        reason: b.reason,
        pledge: b.pledge.then(|| "on".to_owned()),
    };
    let id = s.app.file_application(&u.current, &input).await?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

/// One application.
#[utoipa::path(get, path = "/api/v1/applications/{id}", params(("id" = i64, Path)), responses((status = 200, body = ApplicationDto), (status = 403, body = ErrorBody)))]
async fn application_get(State(s): State<AppState>, u: ApiUser, Path(id): Path<i64>) -> ApiResult<ApplicationDto> {
    Ok(Json(application_dto(s.app.application(&u.current, id).await?)))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct StepBody {
    #[serde(default)]
    note: String,
}

#[derive(Serialize, ToSchema)]
pub struct StepDto {
    state: String,
    account_id: Option<i64>,
    /// For a carried-out new account: the one-time activation link, shown only in this answer.
    activation_url: Option<String>,
    /// Where the link was mailed instead (masked), when a mail server is configured.
    mailed_to: Option<String>,
}

/// Take a step: submit, approve, reject, carry-out, withdraw.
#[utoipa::path(post, path = "/api/v1/applications/{id}/{step}", params(("id" = i64, Path), ("step" = String, Path)), request_body = StepBody,
    responses((status = 200, body = StepDto), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn application_step(
    State(s): State<AppState>,
    u: ApiUser,
    Path((id, step)): Path<(i64, String)>,
    body: Option<Json<StepBody>>,
) -> ApiResult<StepDto> {
    use nhiguard_domain::account::ApplicationStep as S;
    let note = body.map(|Json(b)| b.note).unwrap_or_default();
    let step = match step.as_str() {
        "submit" => S::Submit,
        "approve" => S::Approve,
        "reject" => S::Reject,
        "carry-out" => S::CarryOut,
        "withdraw" => S::Withdraw,
        _ => return Err(ApiError(AppError::not_found("沒有這個步驟", "no such step"))),
    };
    if step == S::CarryOut {
        let done = s.app.carry_out(&u.current, id).await?;
        return Ok(Json(StepDto {
            state: "carried_out".into(),
            account_id: Some(done.account_id),
            activation_url: done.activation_url,
            mailed_to: done.mailed_to,
        }));
    }
    s.app.application_step(&u.current, id, step, &note).await?;
    let a = s.app.application(&u.current, id).await?;
    Ok(Json(StepDto { state: a.state, account_id: a.account_id, activation_url: None, mailed_to: None }))
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordBody {
    old_password: String,
    password: String,
    confirm: String,
}

/// Change one's own password (R-ACC-6).
#[utoipa::path(put, path = "/api/v1/me/password", request_body = PasswordBody, responses((status = 204), (status = 422, body = ErrorBody)))]
async fn password_put(
    State(s): State<AppState>,
    u: ApiUser,
    body: Result<Json<PasswordBody>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let b = json_body(body)?;
    s.app.change_password(&u.current, &b.old_password, &b.password, &b.confirm).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct DisableBody {
    /// YYYY-MM-DD or ROC; empty clears it. A date in the past applies at once.
    #[serde(default)]
    disable_on: String,
    /// moved, resigned, retired or other
    reason: String,
    /// What the reason is, in words (at least 10 characters when the reason is `other`).
    #[serde(default)]
    note: String,
}

/// Set the day an account stops working (R-ACC-7).
#[utoipa::path(put, path = "/api/v1/accounts/{id}/disable-date", params(("id" = i64, Path)), request_body = DisableBody,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn disable_date_put(
    State(s): State<AppState>,
    u: ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<DisableBody>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let b = json_body(body)?;
    s.app.set_disable_date(&u.current, id, &b.disable_on, &b.reason, &b.note).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- batch queries (R-QRY-4) ----

#[derive(Deserialize, utoipa::IntoParams)]
pub struct BatchParams {
    purpose_id: i64,
    operation_id: i64,
    case_number: String,
    reason: String,
    /// Used to tell CSV from ODS when the content does not.
    #[serde(default)]
    file_name: String,
}

#[derive(Serialize, ToSchema)]
pub struct BatchDto {
    id: i64,
    state: String,
    total: u64,
    done: u64,
    answered: u64,
    not_found: u64,
    failed: u64,
    case_number: String,
    created_at: String,
    purge_after: String,
    /// Kept with the case: the result file is not purged at `purge_after`.
    attached: bool,
}

fn batch_dto(b: nhiguard_app::batch::BatchRow) -> BatchDto {
    BatchDto {
        id: b.id,
        state: b.state,
        total: b.total,
        done: b.done,
        answered: b.answered,
        not_found: b.not_found,
        failed: b.failed,
        case_number: b.case_number,
        created_at: b.created_at.to_rfc3339(),
        purge_after: b.purge_after.to_rfc3339(),
        attached: b.attached,
    }
}

/// Upload a CSV (UTF-8) or ODS file of subjects (the body itself) for one purpose, operation, case
/// number and reason. The whole file is refused (422, bad rows listed) if any row is wrong.
#[utoipa::path(post, path = "/api/v1/batches", params(BatchParams), request_body(content = Vec<u8>, content_type = "text/csv"),
    responses((status = 201, body = Created), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn batch_upload(
    State(s): State<AppState>,
    ApiQuerier(u): ApiQuerier,
    axum::extract::Query(p): axum::extract::Query<BatchParams>,
    oversize: Option<axum::Extension<crate::batch::AnnouncedOversize>>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let mut input = nhiguard_app::batch::BatchInput {
        purpose_id: p.purpose_id,
        operation_id: p.operation_id,
        case_number: p.case_number,
        reason: p.reason,
        file_name: p.file_name,
        bytes: Vec::new(),
    };
    // Too large (announced, or found so while reading) or unreadable: refused and recorded.
    let status = match (oversize, &body) {
        (Some(_), _) => Some(StatusCode::PAYLOAD_TOO_LARGE),
        (None, Err(e)) => Some(e.status()),
        (None, Ok(_)) => None,
    };
    if let Some(status) = status {
        let e = crate::batch::unreadable_upload(status);
        return Err(ApiError(s.app.refuse_unread_upload(&u.current, &input, e).await));
    }
    input.bytes = body.map(|b| b.to_vec()).unwrap_or_default();
    let id = s.app.upload_batch(&u.current, &input).await?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

/// A batch's progress.
#[utoipa::path(get, path = "/api/v1/batches/{id}", params(("id" = i64, Path)), responses((status = 200, body = BatchDto), (status = 403, body = ErrorBody)))]
async fn batch_get(State(s): State<AppState>, u: ApiUser, Path(id): Path<i64>) -> ApiResult<BatchDto> {
    Ok(Json(batch_dto(s.app.batch(&u.current, id).await?)))
}

/// Destroy a finished batch's result file now (recorded as a destruction, without the data).
#[utoipa::path(delete, path = "/api/v1/batches/{id}", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn batch_delete(State(s): State<AppState>, u: ApiUser, Path(id): Path<i64>) -> Result<StatusCode, ApiError> {
    s.app.delete_batch_result(&u.current, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The result file (CSV, UTF-8 with BOM); the download is recorded.
#[utoipa::path(get, path = "/api/v1/batches/{id}/result.csv", params(("id" = i64, Path)), responses((status = 200, content_type = "text/csv"), (status = 409, body = ErrorBody)))]
async fn batch_csv(State(s): State<AppState>, u: ApiUser, Path(id): Path<i64>) -> Result<Response, ApiError> {
    let (name, bytes) = s.app.batch_file(&u.current, id, false).await?;
    Ok(crate::view::attachment(&name, "text/csv; charset=utf-8", bytes))
}

#[derive(Deserialize, ToSchema)]
pub struct AttachBody {
    /// true: keep with the case file (no automatic purge); false: purge on schedule again.
    attached: bool,
}

/// Keep a result with its case past the purge date, or let it go again (R-QRY-6).
#[utoipa::path(put, path = "/api/v1/results/{id}/attached", params(("id" = i64, Path)), request_body = AttachBody,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn result_attach(
    State(s): State<AppState>,
    u: ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<AttachBody>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let b = json_body(body)?;
    s.app.attach_result(&u.current, id, b.attached).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Keep a finished batch's result file with its case past the purge date, or let it go again
/// (R-QRY-6); the owner only, recorded.
#[utoipa::path(put, path = "/api/v1/batches/{id}/attached", params(("id" = i64, Path)), request_body = AttachBody,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn batch_attach(
    State(s): State<AppState>,
    u: ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<AttachBody>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let b = json_body(body)?;
    s.app.attach_batch(&u.current, id, b.attached).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- monthly reviews (R-REV-1 … R-REV-4) ----

#[derive(Serialize, ToSchema)]
pub struct ReviewDto {
    id: i64,
    agency_id: i64,
    year: i32,
    month: u32,
    /// Queries of the month (N).
    queries: u64,
    /// The ledger seqs drawn, sorted.
    sample: Vec<u64>,
    /// Hex SHA-256 seed derived from the checkpoint, the agency and the month.
    seed: String,
    checkpoint: String,
    state: String,
    reviewer_account_id: Option<i64>,
    /// Recomputed now from the signed checkpoint: true when it gives the stored sample.
    sample_matches: Option<bool>,
    findings: Vec<FindingDto>,
    /// Risk flags over the whole month: entry and a one-line explanation.
    flags: Vec<FlagDto>,
}

#[derive(Serialize, ToSchema)]
pub struct FlagDto {
    seq: u64,
    kind: String,
    explanation_zh: String,
    explanation_en: String,
}

#[derive(Serialize, ToSchema)]
pub struct FindingDto {
    seq: u64,
    finding: String,
    note: String,
}

fn review_dto(r: nhiguard_app::review::ReviewRow, matches: Option<bool>, findings: Vec<FindingDto>) -> ReviewDto {
    ReviewDto {
        id: r.id,
        agency_id: r.agency_id,
        year: r.year,
        month: r.month,
        queries: r.queries,
        sample: r.sample,
        seed: r.seed,
        checkpoint: r.checkpoint_text,
        state: r.state,
        reviewer_account_id: r.reviewer_account_id,
        sample_matches: matches,
        findings,
        flags: Vec::new(),
    }
}

/// The reviews within the caller's reach.
#[utoipa::path(get, path = "/api/v1/reviews", responses((status = 200, body = [ReviewDto])))]
async fn reviews_list(State(s): State<AppState>, u: ApiUser) -> ApiResult<Vec<ReviewDto>> {
    Ok(Json(s.app.reviews(&u.current).await?.into_iter().map(|r| review_dto(r, None, Vec::new())).collect()))
}

#[derive(Deserialize, ToSchema)]
pub struct MonthBody {
    year: i32,
    month: u32,
}

/// Prepare a closed month's reviews for every agency now (the server does it itself on the 1st).
#[utoipa::path(post, path = "/api/v1/reviews/prepare", request_body = MonthBody, responses((status = 200), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn reviews_prepare(
    State(s): State<AppState>,
    u: ApiUser,
    body: Result<Json<MonthBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let b = json_body(body)?;
    if !u.current.has(nhiguard_domain::role::Role::PlanningAdmin) {
        return Err(ApiError(AppError::forbidden(
            "僅計畫處可提前產生查核",
            "only the planning department prepares reviews by hand",
        )));
    }
    let created = s.app.prepare_reviews(b.year, b.month).await?;
    Ok(Json(serde_json::json!({ "created": created })))
}

/// One review with its sample recomputed from the signed checkpoint.
#[utoipa::path(get, path = "/api/v1/reviews/{id}", params(("id" = i64, Path)), responses((status = 200, body = ReviewDto), (status = 403, body = ErrorBody)))]
async fn review_get(State(s): State<AppState>, u: ApiUser, Path(id): Path<i64>) -> ApiResult<ReviewDto> {
    let v = s.app.review_view(&u.current, id).await?;
    let findings = v
        .findings
        .iter()
        .map(|f| FindingDto { seq: f.seq, finding: f.finding.clone(), note: f.note.clone() })
        .collect();
    let flags = v
        .flags
        .iter()
        .flatten()
        .map(|f| FlagDto {
            seq: f.seq,
            kind: f.kind.code().to_owned(),
            explanation_zh: f.explanation_zh.clone(),
            explanation_en: f.explanation_en.clone(),
        })
        .collect();
    let mut dto = review_dto(v.review, Some(v.sample_matches), findings);
    dto.flags = flags;
    Ok(Json(dto))
}

#[derive(Deserialize, ToSchema)]
pub struct ReviewerBody {
    username: String,
}

/// Assign the reviewer (same agency, 股長 or above, not reviewing their own queries).
#[utoipa::path(post, path = "/api/v1/reviews/{id}/reviewer", params(("id" = i64, Path)), request_body = ReviewerBody,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn review_assign(
    State(s): State<AppState>,
    u: ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<ReviewerBody>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let b = json_body(body)?;
    s.app.assign_reviewer(&u.current, id, &b.username).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct FindingBody {
    /// normal or anomalous
    finding: String,
    #[serde(default)]
    note: String,
}

/// Record the finding on one sampled entry.
#[utoipa::path(put, path = "/api/v1/reviews/{id}/findings/{seq}", params(("id" = i64, Path), ("seq" = u64, Path)), request_body = FindingBody,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn review_finding(
    State(s): State<AppState>,
    u: ApiUser,
    Path((id, seq)): Path<(i64, u64)>,
    body: Result<Json<FindingBody>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let b = json_body(body)?;
    s.app.record_finding(&u.current, id, seq, &b.finding, &b.note).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sign: the reviewer once every entry has a finding, then the unit head.
#[utoipa::path(post, path = "/api/v1/reviews/{id}/sign", params(("id" = i64, Path)), responses((status = 204), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn review_sign(State(s): State<AppState>, u: ApiUser, Path(id): Path<i64>) -> Result<StatusCode, ApiError> {
    s.app.sign_review(&u.current, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- account reviews (R-ACC-9) ----

#[derive(Serialize, ToSchema)]
pub struct AccountReviewDto {
    id: i64,
    org_node_id: i64,
    /// open or applied
    state: String,
    started_at: String,
    applied_at: Option<String>,
    items: Vec<AccountReviewItemDto>,
}

#[derive(Serialize, ToSchema)]
pub struct AccountReviewItemDto {
    account_id: i64,
    username: String,
    /// duplicate, idle, hr_changed, past_disable_date
    concerns: Vec<String>,
    roles: Vec<String>,
    /// `purpose_id:operation_id` at the start of the review.
    grants: Vec<String>,
    /// keep, reduce, disable, or empty while undecided
    decision: String,
    kept_grants: Vec<String>,
    note: String,
}

fn account_review_dto(
    r: nhiguard_app::account_review::AccountReviewRow,
    items: Vec<AccountReviewItemDto>,
) -> AccountReviewDto {
    AccountReviewDto {
        id: r.id,
        org_node_id: r.org_node_id,
        state: r.state,
        started_at: r.started_at.to_rfc3339(),
        applied_at: r.applied_at.map(|t| t.to_rfc3339()),
        items,
    }
}

/// The account reviews of the caller's branch (admins only), newest first.
#[utoipa::path(get, path = "/api/v1/account-reviews", responses((status = 200, body = [AccountReviewDto]), (status = 403, body = ErrorBody)))]
async fn account_reviews_list(State(s): State<AppState>, u: ApiUser) -> ApiResult<Vec<AccountReviewDto>> {
    let rows = s.app.account_reviews(&u.current).await?;
    Ok(Json(rows.into_iter().map(|r| account_review_dto(r, Vec::new())).collect()))
}

/// Start a review of the caller's branch (or get the one still open).
#[utoipa::path(post, path = "/api/v1/account-reviews", responses((status = 200, body = Created), (status = 403, body = ErrorBody)))]
async fn account_review_start(State(s): State<AppState>, u: ApiUser) -> ApiResult<Created> {
    Ok(Json(Created { id: s.app.start_account_review(&u.current).await? }))
}

/// One account review with every account, its concerns and the decision on it.
#[utoipa::path(get, path = "/api/v1/account-reviews/{id}", params(("id" = i64, Path)), responses((status = 200, body = AccountReviewDto), (status = 403, body = ErrorBody)))]
async fn account_review_get(State(s): State<AppState>, u: ApiUser, Path(id): Path<i64>) -> ApiResult<AccountReviewDto> {
    let v = s.app.account_review(&u.current, id).await?;
    let items = v
        .items
        .into_iter()
        .map(|i| AccountReviewItemDto {
            account_id: i.account.id,
            username: i.account.username,
            concerns: i.item.concerns,
            roles: i.item.roles,
            grants: i.item.grants,
            decision: i.item.decision,
            kept_grants: i.item.kept_grants,
            note: i.item.note,
        })
        .collect();
    Ok(Json(account_review_dto(v.review, items)))
}

#[derive(Deserialize, ToSchema)]
pub struct DecisionBody {
    /// keep, reduce or disable
    decision: String,
    #[serde(default)]
    note: String,
    /// For reduce: the grants (`purpose_id:operation_id`) the account keeps.
    #[serde(default)]
    keep: Vec<String>,
}

/// Decide on one account of an open review.
#[utoipa::path(put, path = "/api/v1/account-reviews/{id}/accounts/{account}", params(("id" = i64, Path), ("account" = i64, Path)), request_body = DecisionBody,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn account_review_decide(
    State(s): State<AppState>,
    u: ApiUser,
    Path((id, account)): Path<(i64, i64)>,
    body: Result<Json<DecisionBody>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let b = json_body(body)?;
    s.app.decide_account(&u.current, id, account, &b.decision, &b.note, &b.keep).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Apply every decision of the review at once.
#[utoipa::path(post, path = "/api/v1/account-reviews/{id}/apply", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn account_review_apply(
    State(s): State<AppState>,
    u: ApiUser,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    s.app.apply_account_review(&u.current, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- the office calendar ----

#[derive(Serialize, ToSchema)]
pub struct CalendarDayDto {
    date: String,
    /// holiday or workday (a weekend day worked)
    kind: String,
    name: String,
}

/// Every holiday and make-up working day known.
#[utoipa::path(get, path = "/api/v1/calendar", responses((status = 200, body = [CalendarDayDto])))]
async fn calendar_get(State(s): State<AppState>, _u: ApiUser) -> ApiResult<Vec<CalendarDayDto>> {
    Ok(Json(
        s.app
            .calendar()
            .await?
            .into_iter()
            .map(|d| CalendarDayDto { date: d.date.to_string(), kind: d.kind.code().into(), name: d.name })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct CalendarBody {
    /// One day per line: `2026-01-01 放假 開國紀念日`, `2026-02-07 上班 補行上班`.
    text: String,
}

/// Replace one year's calendar (the planning department).
#[utoipa::path(put, path = "/api/v1/calendar/{year}", params(("year" = i32, Path)), request_body = CalendarBody,
    responses((status = 200), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn calendar_put(
    State(s): State<AppState>,
    u: ApiUser,
    Path(year): Path<i32>,
    body: Result<Json<CalendarBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<serde_json::Value> {
    let b = json_body(body)?;
    let n = s.app.set_calendar_year(&u.current, year, &b.text).await?;
    Ok(Json(serde_json::json!({"days": n})))
}

// ---- investigations (R-REV-5) ----

#[derive(Serialize, ToSchema)]
pub struct InvestigationDto {
    id: i64,
    review_id: i64,
    agency_id: i64,
    /// The ledger entry whose anomalous finding opened it.
    seq: u64,
    /// open or concluded
    state: String,
    opened_by: i64,
    business_account_id: Option<i64>,
    ethics_account_id: Option<i64>,
    it_account_id: Option<i64>,
    /// The units that have recorded their part: business, ethics, it.
    stepped: Vec<String>,
    /// Ledger entries collected (the opening one first).
    entries: Vec<u64>,
    /// The audit record, once concluded.
    conclusion: String,
    actions: String,
    disabled_account_id: Option<i64>,
}

fn investigation_dto(
    i: nhiguard_app::investigation::InvestigationRow,
    stepped: Vec<String>,
    entries: Vec<u64>,
) -> InvestigationDto {
    InvestigationDto {
        id: i.id,
        review_id: i.review_id,
        agency_id: i.agency_id,
        seq: i.seq,
        state: i.state,
        opened_by: i.opened_by,
        business_account_id: i.business_account_id,
        ethics_account_id: i.ethics_account_id,
        it_account_id: i.it_account_id,
        stepped,
        entries,
        conclusion: i.conclusion,
        actions: i.actions,
        disabled_account_id: i.disabled_account_id,
    }
}

/// The investigations naming the caller, newest first.
#[utoipa::path(get, path = "/api/v1/investigations", responses((status = 200, body = [InvestigationDto])))]
async fn investigations_list(State(s): State<AppState>, u: ApiUser) -> ApiResult<Vec<InvestigationDto>> {
    let rows = s.app.investigations(&u.current).await?;
    Ok(Json(rows.into_iter().map(|i| investigation_dto(i, Vec::new(), Vec::new())).collect()))
}

/// One investigation (only for the people named on it).
#[utoipa::path(get, path = "/api/v1/investigations/{id}", params(("id" = i64, Path)), responses((status = 200, body = InvestigationDto), (status = 403, body = ErrorBody)))]
async fn investigation_get(State(s): State<AppState>, u: ApiUser, Path(id): Path<i64>) -> ApiResult<InvestigationDto> {
    let v = s.app.investigation_view(&u.current, id).await?;
    let stepped = v.stepped().iter().map(|p| p.code().to_owned()).collect();
    let entries = v.entries.iter().map(|e| e.seq).collect();
    Ok(Json(investigation_dto(v.inv, stepped, entries)))
}

#[derive(Deserialize, ToSchema)]
pub struct MembersBody {
    /// Usernames: someone of the agency reviewed, an ethics officer, a system admin.
    business: String,
    ethics: String,
    it: String,
}

/// Name the business, ethics and IT members.
#[utoipa::path(put, path = "/api/v1/investigations/{id}/members", params(("id" = i64, Path)), request_body = MembersBody,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn investigation_members(
    State(s): State<AppState>,
    u: ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<MembersBody>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let b = json_body(body)?;
    s.app.name_members(&u.current, id, &b.business, &b.ethics, &b.it).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A supervisor of the reviewed agency takes the place of an opener whose account is no longer
/// active (R-REV-5), to name the members.
#[utoipa::path(post, path = "/api/v1/investigations/{id}/take-over", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn investigation_take_over(
    State(s): State<AppState>,
    u: ApiUser,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    s.app.take_over_investigation(&u.current, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct NoteBody {
    note: String,
    /// For evidence: a ledger entry of the agency's query log.
    #[serde(default)]
    seq: Option<u64>,
}

/// A member records what their unit did.
#[utoipa::path(post, path = "/api/v1/investigations/{id}/steps", params(("id" = i64, Path)), request_body = NoteBody,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn investigation_step(
    State(s): State<AppState>,
    u: ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<NoteBody>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let b = json_body(body)?;
    s.app.record_step(&u.current, id, &b.note).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A member collects an entry of the query log or a described piece of evidence.
#[utoipa::path(post, path = "/api/v1/investigations/{id}/evidence", params(("id" = i64, Path)), request_body = NoteBody,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn investigation_evidence(
    State(s): State<AppState>,
    u: ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<NoteBody>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let b = json_body(body)?;
    s.app.add_evidence(&u.current, id, b.seq, &b.note).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct ConcludeBody {
    conclusion: String,
    #[serde(default)]
    actions: String,
    /// Disable the account that made the investigated query, in the same step.
    #[serde(default)]
    disable_account: bool,
}

/// The business member makes the audit record (once all three units recorded their part).
#[utoipa::path(post, path = "/api/v1/investigations/{id}/conclude", params(("id" = i64, Path)), request_body = ConcludeBody,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn investigation_conclude(
    State(s): State<AppState>,
    u: ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<ConcludeBody>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let b = json_body(body)?;
    s.app.conclude_investigation(&u.current, id, &b.conclusion, &b.actions, b.disable_account).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct ShareBody {
    /// A colleague of the same agency who holds the user role.
    username: String,
}

/// Name a colleague who may open a result kept with its case (its owner only).
#[utoipa::path(post, path = "/api/v1/results/{id}/shares", params(("id" = i64, Path)), request_body = ShareBody,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn result_share(
    State(s): State<AppState>,
    u: ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<ShareBody>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let b = json_body(body)?;
    s.app.share_result(&u.current, id, &b.username).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End a colleague's access to a result (its owner only).
#[utoipa::path(delete, path = "/api/v1/results/{id}/shares/{account}", params(("id" = i64, Path), ("account" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn result_unshare(
    State(s): State<AppState>,
    u: ApiUser,
    Path((id, account)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    s.app.unshare_result(&u.current, id, account).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct TotpSetup {
    /// The secret in base32, to type into an authenticator app.
    secret: String,
    /// The same as an `otpauth://` address.
    uri: String,
}

/// Start setting up the second factor: a new secret, in force once a code from it is confirmed.
/// Someone who has one already sends a current code (`{"code": "123456"}`) to move to another.
#[utoipa::path(post, path = "/api/v1/me/totp", responses((status = 200, body = TotpSetup), (status = 422, body = ErrorBody)))]
async fn totp_begin(State(s): State<AppState>, u: ApiUser, body: axum::body::Bytes) -> ApiResult<TotpSetup> {
    let code = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let (secret, uri) = s.app.totp_begin(&u.current, &code).await?;
    Ok(Json(TotpSetup { secret, uri }))
}

/// An admin removes the second factor of an account it manages (a lost phone).
#[utoipa::path(post, path = "/api/v1/accounts/{id}/totp-reset", params(("id" = i64, Path)), request_body = ResetBody,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn totp_reset(
    State(s): State<AppState>,
    u: ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<ResetBody>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let b = json_body(body)?;
    s.app.reset_totp(&u.current, id, &b.reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct ResetBody {
    /// Why (at least 10 characters): recorded with the reset (R-ACC-10).
    #[serde(default)]
    reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct ResetDto {
    /// The one-time link for the owner to set a new password, shown only in this answer — unless
    /// it was mailed to the owner (`mailed_to`).
    activation_url: Option<String>,
    /// Where the link was mailed instead (masked).
    mailed_to: Option<String>,
}

/// An admin resets the password of an account it manages (R-ACC-4, R-ACC-10): the old one stops
/// working and the account's sessions end; the owner sets a new one through a one-time link.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/password-reset", params(("id" = i64, Path)), request_body = ResetBody,
    responses((status = 200, body = ResetDto), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn password_reset(
    State(s): State<AppState>,
    u: ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<ResetBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<ResetDto> {
    let b = json_body(body)?;
    let done = s.app.reset_password(&u.current, id, &b.reason).await?;
    Ok(Json(ResetDto { activation_url: done.activation_url, mailed_to: done.mailed_to }))
}

#[derive(Deserialize, ToSchema)]
pub struct TotpCode {
    /// Six digits from the authenticator app.
    code: String,
}

/// Confirm the second factor with a code from the app; from then on sign-in needs one.
#[utoipa::path(put, path = "/api/v1/me/totp", request_body = TotpCode, responses((status = 204), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn totp_confirm(
    State(s): State<AppState>,
    u: ApiUser,
    body: Result<Json<TotpCode>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let b = json_body(body)?;
    s.app.totp_confirm(&u.current, &b.code).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct EmailBody {
    /// Empty clears it.
    #[serde(default)]
    email: String,
}

/// Set a person's e-mail address (where activation links go when SMTP is configured).
#[utoipa::path(put, path = "/api/v1/people/{id}/email", params(("id" = i64, Path)), request_body = EmailBody,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn person_email(
    State(s): State<AppState>,
    u: ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<EmailBody>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let b = json_body(body)?;
    s.app.set_person_email(&u.current, id, &b.email).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct HandoverBody {
    /// The outgoing admin's username.
    outgoing: String,
    /// Why the branch changes hands (at least 10 characters).
    #[serde(default)]
    reason: String,
    /// Keep the outgoing account instead of disabling it; the incoming admin then sets its password
    /// in the same step (`new_password`, typed twice in `confirm`).
    #[serde(default)]
    keep: bool,
    #[serde(default)]
    new_password: Option<String>,
    #[serde(default)]
    confirm: Option<String>,
}

/// The incoming admin takes over the branch (R-ACC-8).
#[utoipa::path(post, path = "/api/v1/handover", request_body = HandoverBody, responses((status = 204), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn handover_post(
    State(s): State<AppState>,
    u: ApiUser,
    body: Result<Json<HandoverBody>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let b = json_body(body)?;
    let new_password = match (b.keep, b.new_password.as_deref()) {
        (true, Some(p)) => Some(p),
        (true, None) => {
            return Err(ApiError(AppError::invalid(
                "new_password",
                "保留原管理者帳號時，須由新任管理者立即設定其新密碼（new_password、confirm）",
                "to keep the outgoing account, set its new password now (new_password, confirm)",
            )));
        }
        (false, Some(_)) => {
            return Err(ApiError(AppError::invalid(
                "new_password",
                "停用原管理者帳號時不設定密碼；如須保留帳號，請一併送出 keep: true",
                "a disabled account gets no password; send keep: true to keep the account",
            )));
        }
        (false, None) => None,
    };
    let h = nhiguard_app::governance::Handover {
        outgoing: &b.outgoing,
        reason: &b.reason,
        new_password,
        confirm: b.confirm.as_deref(),
    };
    s.app.handover(&u.current, &h).await?;
    Ok(StatusCode::NO_CONTENT)
}
