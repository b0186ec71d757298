//! A user_service-sized library without async methods or streams, for
//! `cargo xtask size`: two services (`size.v1.Users`: get, create, list,
//! delete over an in-memory store, a per-client rate limit on get;
//! `size.v1.Admin`: ping) with every library-wide export, and a health
//! check. It is the shape of the two-service library issue 14 measured at
//! 626 KB, and the library its 400 KB target is judged on.

use proto2ffi::Status;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

/// Messages and service traits generated from `proto/size.proto`.
pub mod size {
    proto2ffi::include_proto!("size.v1");
}

use size::*;

proto2ffi::library!(prefix = "two", init = init);

/// The store lives as long as the library.
static STORE: Store = Store {
    users: RwLock::new(BTreeMap::new()),
    next_id: AtomicU64::new(1),
};

fn init() -> Result<(), Status> {
    register_users(Store::shared())?;
    register_admin(Admin)?;
    proto2ffi::this_library!().set_health_check(|| {
        let n = STORE.len();
        if n >= 90_000 {
            return Err(format!("user store is {n}/100000 full"));
        }
        Ok(())
    });
    Ok(())
}

/// Thread-safe in-memory users.
pub struct Store {
    users: RwLock<BTreeMap<u64, User>>,
    next_id: AtomicU64,
}

impl Store {
    /// The library's store (`Users` is implemented on a reference to it).
    fn shared() -> &'static Store {
        &STORE
    }

    fn len(&self) -> usize {
        self.users.read().map_or(0, |u| u.len())
    }

    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, BTreeMap<u64, User>>, Status> {
        self.users
            .read()
            .map_err(|_| Status::internal_sanitized("user store poisoned"))
    }

    fn write(&self) -> Result<std::sync::RwLockWriteGuard<'_, BTreeMap<u64, User>>, Status> {
        self.users
            .write()
            .map_err(|_| Status::internal_sanitized("user store poisoned"))
    }
}

impl Users for &'static Store {
    fn get_user(&self, request: GetUserRequest) -> Result<User, Status> {
        self.read()?
            .get(&request.id)
            .cloned()
            .ok_or_else(|| Status::not_found(format!("no user {}", request.id)))
    }

    fn create_user(&self, request: CreateUserRequest) -> Result<User, Status> {
        if request.name.trim().is_empty() {
            return Err(Status::invalid_argument("name: empty"));
        }
        if !request.email.contains('@') {
            return Err(Status::invalid_argument("email: no '@'"));
        }
        let mut users = self.write()?;
        if users.len() >= 100_000 {
            return Err(Status::resource_exhausted("the store is full"));
        }
        let user = User {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            name: request.name,
            email: request.email,
            role: request.role,
            tags: request.tags,
        };
        users.insert(user.id, user.clone());
        Ok(user)
    }

    fn list_users(&self, request: ListUsersRequest) -> Result<ListUsersResponse, Status> {
        let size = match request.page_size {
            0 => 20,
            n => n.min(100),
        } as usize;
        let users = self.read()?;
        Ok(ListUsersResponse {
            users: users
                .range(request.after_id.saturating_add(1)..)
                .take(size)
                .map(|(_, u)| u.clone())
                .collect(),
        })
    }

    fn delete_user(&self, request: DeleteUserRequest) -> Result<DeleteUserResponse, Status> {
        Ok(DeleteUserResponse {
            deleted: self.write()?.remove(&request.id).is_some(),
        })
    }
}

/// The `Admin` service.
pub struct Admin;

impl size::Admin for Admin {
    fn ping(&self, request: PingRequest) -> Result<PingResponse, Status> {
        Ok(PingResponse {
            text: request.text,
            users: STORE.len() as u64,
        })
    }
}
