//! Example proto2ffi library: `user.v1.UserService` over an in-memory store.
//!
//! - `proto/user.proto` is the contract; `build.rs` turns it into the
//!   messages and the `UserService` trait below implements, plus
//!   `include/user_service.h`.
//! - `proto2ffi::library!` exports the library-wide functions and registers
//!   the implementation on first use.
//! - Validation errors carry an `ErrorInfo` detail; internal errors are
//!   logged with detail and returned sanitized.

use parking_lot::RwLock;
use proto2ffi::{RequestStream, Status, StreamSink};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Messages and the service trait generated from `proto/user.proto`.
pub mod user {
    proto2ffi::include_proto!("user.v1");
}

/// Demo-only service from `proto/demo_only.proto`.
pub mod demo {
    proto2ffi::include_proto!("demo.v1");
}

use user::*;

proto2ffi::library!(prefix = "users", init = init);

/// Registers the services; runs once, on the first call or on
/// `users_proto2ffi_init()`.
fn init() -> Result<(), Status> {
    // The store lives as long as the library (it is never unloaded).
    let store: &'static UserStore = Box::leak(Box::new(UserStore::with_capacity(100_000)));
    register_user_service(store)?;
    proto2ffi::this_library!().set_health_check(move || store.check());
    #[cfg(feature = "demo")]
    demo::register_demo_only_service(DemoOnly)?;
    Ok(())
}

/// Thread-safe in-memory user store.
pub struct UserStore {
    users: RwLock<BTreeMap<u64, User>>,
    next_id: AtomicU64,
    capacity: usize,
}

impl UserStore {
    /// An empty store holding at most `capacity` users.
    pub fn with_capacity(capacity: usize) -> UserStore {
        UserStore {
            users: RwLock::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
            capacity,
        }
    }

    /// Health: unhealthy when nearly full.
    pub fn check(&self) -> Result<(), String> {
        let n = self.users.read().len();
        if n * 10 >= self.capacity * 9 {
            return Err(format!("user store is {n}/{} full", self.capacity));
        }
        Ok(())
    }
}

fn invalid(field: &str, reason: &str) -> Status {
    Status::invalid_argument(format!("{field}: {reason}")).with_detail(&ErrorInfo {
        reason: reason.to_string(),
        field: field.to_string(),
    })
}

/// An internal error: the detail goes to the library's logs (with an
/// incident id the caller also gets); callers see it only in debug builds.
fn internal(context: &str, detail: impl std::fmt::Display) -> Status {
    Status::internal_sanitized(format!("{context}: {detail}"))
}

fn now() -> proto2ffi::prost_types::Timestamp {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    proto2ffi::prost_types::Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

fn valid_email(email: &str) -> bool {
    let mut parts = email.split('@');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(local), Some(domain), None) if !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
    )
}

const MAX_PAGE: u32 = 100;

/// Users a search looks at between two yields to the executor.
const SEARCH_CHUNK: usize = 256;

impl UserService for &'static UserStore {
    fn get_user(&self, request: GetUserRequest) -> Result<GetUserResponse, Status> {
        if request.id == 0 {
            return Err(invalid("id", "must be greater than 0"));
        }
        let users = self.users.read();
        let user = users
            .get(&request.id)
            .cloned()
            .ok_or_else(|| Status::not_found(format!("user {} does not exist", request.id)))?;
        Ok(GetUserResponse { user: Some(user) })
    }

    fn create_user(&self, request: CreateUserRequest) -> Result<CreateUserResponse, Status> {
        let name = request.name.trim();
        if name.is_empty() {
            return Err(invalid("name", "must not be empty"));
        }
        if name.chars().count() > 100 {
            return Err(invalid("name", "must be at most 100 characters"));
        }
        if !valid_email(&request.email) {
            return Err(invalid("email", "must look like name@example.com"));
        }
        if request.tags.len() > 16 {
            return Err(invalid("tags", "at most 16 tags"));
        }
        let mut users = self.users.write();
        if users
            .values()
            .any(|u| u.email.eq_ignore_ascii_case(&request.email))
        {
            return Err(Status::already_exists(format!(
                "a user with email {} already exists",
                request.email
            ))
            .with_detail(&ErrorInfo {
                reason: "email taken".into(),
                field: "email".into(),
            }));
        }
        if users.len() >= self.capacity {
            return Err(Status::resource_exhausted("the user store is full"));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if users.contains_key(&id) {
            // Cannot happen unless ids wrapped; report without leaking internals.
            return Err(internal("create_user", format!("id {id} reused")));
        }
        let user = User {
            id,
            name: name.to_string(),
            email: request.email,
            role: request.role,
            created_at: Some(now()),
            tags: request.tags,
        };
        users.insert(id, user.clone());
        proto2ffi::tracing::info!(user = id, "user created");
        Ok(CreateUserResponse { user: Some(user) })
    }

    fn list_users(&self, request: ListUsersRequest) -> Result<ListUsersResponse, Status> {
        let size = match request.page_size {
            0 => 20,
            n => n.min(MAX_PAGE),
        } as usize;
        let after: u64 = if request.page_token.is_empty() {
            0
        } else {
            request
                .page_token
                .strip_prefix("after:")
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| invalid("page_token", "is not a token this service issued"))?
        };
        let users = self.users.read();
        let page: Vec<User> = users
            .range(after + 1..)
            .take(size + 1)
            .map(|(_, u)| u.clone())
            .collect();
        let (users, next_page_token) = if page.len() > size {
            let mut page = page;
            page.truncate(size);
            let last = page.last().map_or(0, |u| u.id);
            (page, format!("after:{last}"))
        } else {
            (page, String::new())
        };
        Ok(ListUsersResponse {
            users,
            next_page_token,
        })
    }

    async fn stream_users(
        &self,
        request: StreamUsersRequest,
        sink: StreamSink<User>,
    ) -> Result<(), Status> {
        let pause = Duration::from_millis(u64::from(request.pause_ms.min(1000)));
        let mut after = request.after_id;
        loop {
            // The lock is released before the next `.await`.
            let next = self
                .users
                .read()
                .range(after + 1..)
                .next()
                .map(|(_, u)| u.clone());
            let Some(user) = next else {
                return Ok(());
            };
            after = user.id;
            // Waits while the consumer is 256 users behind; fails with
            // CANCELLED once the caller cancelled.
            sink.send(user).await?;
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
    }

    async fn import_users(
        &self,
        mut requests: RequestStream<CreateUserRequest>,
    ) -> Result<ImportUsersResponse, Status> {
        let mut response = ImportUsersResponse::default();
        let mut index = 0u64;
        while let Some(request) = requests.next().await {
            match self.create_user(request) {
                Ok(_) => response.created += 1,
                Err(e) if e.code() == proto2ffi::Code::ResourceExhausted => return Err(e),
                Err(e) => {
                    response.failed += 1;
                    if response.errors.len() < 10 {
                        response.errors.push(format!("#{index}: {}", e.message()));
                    }
                }
            }
            index += 1;
        }
        Ok(response)
    }

    async fn lookup_users(
        &self,
        mut requests: RequestStream<GetUserRequest>,
        sink: StreamSink<User>,
    ) -> Result<(), Status> {
        while let Some(request) = requests.next().await {
            // The lock is released before the `.await`.
            let user = self.users.read().get(&request.id).cloned();
            sink.send(user.unwrap_or_default()).await?;
        }
        Ok(())
    }

    async fn search_users(
        &self,
        request: SearchUsersRequest,
    ) -> Result<SearchUsersResponse, Status> {
        let query = request.query.trim().to_lowercase();
        if query.is_empty() {
            return Err(invalid("query", "must not be empty"));
        }
        let limit = match request.limit {
            0 => 100,
            n => n.min(1000),
        } as usize;
        let mut found = Vec::new();
        let mut after = 0;
        loop {
            let chunk: Vec<User> = self
                .users
                .read()
                .range(after + 1..)
                .take(SEARCH_CHUNK)
                .map(|(_, u)| u.clone())
                .collect();
            let Some(last) = chunk.last() else { break };
            after = last.id;
            found.extend(chunk.into_iter().filter(|u| {
                u.name.to_lowercase().contains(&query) || u.email.to_lowercase().contains(&query)
            }));
            if found.len() >= limit {
                found.truncate(limit);
                break;
            }
            // A cancellation point between chunks: a cancelled search stops
            // here, and other calls get the executor's thread.
            tokio::task::yield_now().await;
        }
        Ok(SearchUsersResponse { users: found })
    }

    fn delete_user(&self, request: DeleteUserRequest) -> Result<DeleteUserResponse, Status> {
        if request.id == 0 {
            return Err(invalid("id", "must be greater than 0"));
        }
        match self.users.write().remove(&request.id) {
            Some(_) => Ok(DeleteUserResponse { deleted: true }),
            None => Err(Status::not_found(format!(
                "user {} does not exist",
                request.id
            ))),
        }
    }

    async fn issue_token(&self, request: IssueTokenRequest) -> Result<IssueTokenResponse, Status> {
        if !self.users.read().contains_key(&request.user_id) {
            return Err(Status::not_found(format!(
                "user {} does not exist",
                request.user_id
            )));
        }
        // Asks the app: it keeps the key, the library never stores it.
        let key = key_store()
            .read_secret(ReadSecretRequest {
                name: "token-key".into(),
            })
            .await?
            .value;
        if key.len() < 16 {
            return Err(Status::failed_precondition(
                "the app's token-key secret is shorter than 16 bytes",
            ));
        }
        Ok(IssueTokenResponse {
            token: format!("{}.{:016x}", request.user_id, sign(&key, request.user_id)),
        })
    }
}

/// A keyed FNV-1a over the key and the user id: enough for a demo token
/// (use an HMAC in a real app).
fn sign(key: &[u8], user_id: u64) -> u64 {
    key.iter()
        .chain(user_id.to_le_bytes().iter())
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
        })
}

/// Demo only (feature `demo`): panics on purpose.
#[cfg(feature = "demo")]
struct DemoOnly;

#[cfg(feature = "demo")]
impl demo::DemoOnlyService for DemoOnly {
    fn trigger_panic(&self, request: demo::PanicRequest) -> Result<demo::PanicResponse, Status> {
        panic!("{}", request.message);
    }
}
