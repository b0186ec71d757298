/*
 * C client for the user-service example, built against the generated
 * header. Messages are encoded by hand (a few bytes of protobuf) to show the
 * wire contract; real C clients would use nanopb or upb.
 *
 * It also drives async calls (SearchUsers), cancellation, deadlines and a
 * server stream (StreamUsers), a client stream (ImportUsers) and a bidi
 * stream (LookupUsers) from pthreads, and implements the app's KeyStore,
 * which the library's IssueToken handler calls (host_bind, host_complete).
 *
 * Build: gcc -std=c99 -Wall -Wextra -Werror -pedantic -I ../include main.c \
 *          -L <dir> -luser_service -pthread -Wl,-rpath,<dir>
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "user_service.h"

static size_t put_varint(uint8_t *p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static size_t put_string(uint8_t *p, uint32_t field, const char *s) {
    size_t len = strlen(s), n = 0;
    n += put_varint(p + n, ((uint64_t)field << 3) | 2);
    n += put_varint(p + n, len);
    memcpy(p + n, s, len);
    return n + len;
}

/* Reads field 1 (a message) → its field 1 (varint): CreateUserResponse.user.id */
static uint64_t user_id(const uint8_t *p, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t key = p[i++];
        if ((key >> 3) == 1 && (key & 7) == 2) {
            size_t inner = p[i++]; /* users are short: one-byte length */
            if (inner > 0 && p[i] == 0x08) {
                uint64_t v = 0;
                int shift = 0;
                size_t j = i + 1;
                do {
                    v |= (uint64_t)(p[j] & 0x7f) << shift;
                    shift += 7;
                } while (p[j++] & 0x80);
                return v;
            }
            return 0;
        }
        return 0;
    }
    return 0;
}

static int passes = 0, failures = 0;

static void expect(int condition, const char *what) {
    printf("%s %s\n", condition ? "ok  " : "FAIL", what);
    if (condition) passes++; else failures++;
}

/* Log records arrive on a thread of the library; the callback owns each
 * record and frees it. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int created_logged = 0;

static void on_log(void *context, users_log_record *record) {
    (void)context;
    pthread_mutex_lock(&log_lock);
    if (record->level == 3 && strcmp(record->message, "user created") == 0 &&
        strstr(record->fields, "service=user.v1.UserService method=CreateUser") != NULL) {
        created_logged = 1;
    }
    pthread_mutex_unlock(&log_lock);
    users_proto2ffi_log_record_free(record);
}

static int wait_for_created_log(void) {
    struct timespec pause = {0, 5 * 1000 * 1000};
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&log_lock);
        int seen = created_logged;
        pthread_mutex_unlock(&log_lock);
        if (seen) return 1;
        nanosleep(&pause, NULL);
    }
    return 0;
}

/* ---- Async calls and a server stream, from pthreads ----
 * A *_start function returns a call id at once; the library calls the
 * callback from its own threads: STREAM_ITEMS (-1) when a stream has items
 * waiting (take them with stream_next), then exactly one final status. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int ready;     /* STREAM_ITEMS events not handled yet */
    int writable;  /* STREAM_WRITABLE events so far */
    int finals;    /* final events (must end at 1) */
    int32_t status;
    size_t response_len;
} call_state;

static void call_state_init(call_state *s) {
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->changed, NULL);
    s->ready = 0;
    s->writable = 0;
    s->finals = 0;
    s->status = -100;
    s->response_len = 0;
}

static void call_state_destroy(call_state *s) {
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->changed);
}

static void on_event(void *context, uint64_t call_id, int32_t status, const uint8_t *data,
                     size_t len) {
    call_state *s = context;
    (void)call_id;
    (void)data; /* valid only during the callback: copy what you need */
    pthread_mutex_lock(&s->lock);
    if (status == USERS_STREAM_ITEMS) {
        s->ready++;
    } else if (status == USERS_STREAM_WRITABLE) {
        s->writable++;
    } else {
        s->finals++;
        s->status = status;
        s->response_len = len;
    }
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

/* Waits for the final event; returns its status (-100 on timeout). */
static int32_t wait_final(call_state *s) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    pthread_mutex_lock(&s->lock);
    while (s->finals == 0) {
        if (pthread_cond_timedwait(&s->changed, &s->lock, &until) != 0) break;
    }
    int32_t status = s->status;
    pthread_mutex_unlock(&s->lock);
    return status;
}

/* Counts the length-delimited items stream_next wrote. */
static int count_items(const users_buffer *items) {
    int n = 0;
    size_t i = 0;
    while (i < items->len) {
        uint64_t len = 0;
        int shift = 0;
        while (items->data[i] & 0x80) {
            len |= (uint64_t)(items->data[i++] & 0x7f) << shift;
            shift += 7;
        }
        len |= (uint64_t)items->data[i++] << shift;
        i += (size_t)len;
        n++;
    }
    return n;
}

/* Drains a stream: takes items whenever the callback says they wait, until
 * the final status; returns the number of items (the status in *status). */
static int drain_stream(uint64_t id, call_state *s, int32_t *status) {
    int items = 0;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (s->ready == 0 && s->finals == 0) {
            if (pthread_cond_timedwait(&s->changed, &s->lock, &until) != 0) {
                pthread_mutex_unlock(&s->lock);
                *status = -100;
                return items;
            }
        }
        int ready = s->ready, finals = s->finals;
        s->ready = 0;
        *status = s->status;
        pthread_mutex_unlock(&s->lock);
        if (finals) return items; /* the final status comes after the last item */
        if (ready) {
            users_buffer batch = {0};
            if (users_proto2ffi_stream_next(id, 0, &batch) == USERS_STATUS_OK) {
                items += count_items(&batch);
            }
            users_proto2ffi_free(&batch);
        }
    }
}

#define SEARCHERS 4
#define SEARCHES 50

/* One thread: SEARCHES async SearchUsers calls, each awaited. */
static void *searcher(void *arg) {
    int *ok = arg;
    uint8_t req[32];
    size_t n = put_string(req, 1, "example");
    for (int i = 0; i < SEARCHES; i++) {
        call_state s;
        call_state_init(&s);
        uint64_t id = users_user_service_search_users_start(req, n, 0, on_event, &s);
        if (id != 0 && wait_final(&s) == USERS_STATUS_OK && s.response_len > 0 && s.finals == 1) {
            (*ok)++;
        }
        call_state_destroy(&s);
    }
    return NULL;
}

static void async_checks(void) {
    pthread_t threads[SEARCHERS];
    int ok[SEARCHERS] = {0};
    for (int i = 0; i < SEARCHERS; i++) pthread_create(&threads[i], NULL, searcher, &ok[i]);
    int total = 0;
    for (int i = 0; i < SEARCHERS; i++) {
        pthread_join(threads[i], NULL);
        total += ok[i];
    }
    expect(total == SEARCHERS * SEARCHES, "200 async SearchUsers calls from 4 pthreads completed once each");

    uint8_t req[32];
    call_state s;
    call_state_init(&s);
    uint64_t id = users_user_service_search_users_start(NULL, 0, 0, on_event, &s);
    expect(wait_final(&s) == USERS_STATUS_INVALID_ARGUMENT && s.finals == 1,
           "an empty query completes with INVALID_ARGUMENT");
    call_state_destroy(&s);
    expect(users_user_service_search_users_start(NULL, 0, 0, NULL, NULL) == 0,
           "a NULL callback is refused (call id 0)");

    /* A stream of every user. */
    call_state_init(&s);
    id = users_user_service_stream_users_start(NULL, 0, 0, on_event, &s);
    int32_t status = -1;
    int items = drain_stream(id, &s, &status);
    expect(status == USERS_STATUS_OK && items >= 3, "StreamUsers delivers every user, then OK");
    call_state_destroy(&s);

    /* A slow stream, cancelled while it runs. */
    size_t n = 0;
    req[n++] = 0x10; /* pause_ms = 100 */
    n += put_varint(req + n, 100);
    call_state_init(&s);
    id = users_user_service_stream_users_start(req, n, 0, on_event, &s);
    expect(users_proto2ffi_cancel(id) == USERS_STATUS_OK, "cancel finds the running stream");
    expect(wait_final(&s) == USERS_STATUS_CANCELLED, "a cancelled stream ends with CANCELLED");
    expect(users_proto2ffi_cancel(id) == USERS_STATUS_NOT_FOUND, "cancelling twice finds nothing");
    call_state_destroy(&s);

    /* The same slow stream with a 50 ms deadline. */
    call_state_init(&s);
    id = users_user_service_stream_users_start(req, n, 50, on_event, &s);
    drain_stream(id, &s, &status);
    expect(status == USERS_STATUS_DEADLINE_EXCEEDED, "a deadline ends the stream with DEADLINE_EXCEEDED");
    call_state_destroy(&s);
}

/* ---- A client stream (ImportUsers) and a bidi stream (LookupUsers) ----
 * Their *_start takes no request: each request goes with stream_send, which
 * returns 0 (queued), USERS_STREAM_WRITABLE (the window is full, nothing
 * was queued: send it again after the callback got USERS_STREAM_WRITABLE)
 * or a status (refused: the call ended with it). stream_close_send ends the
 * requests. */

/* Sends one request, waiting while the window is full. */
static int32_t send_waiting(uint64_t id, call_state *s, const uint8_t *item, size_t len) {
    for (;;) {
        pthread_mutex_lock(&s->lock);
        int seen = s->writable;
        pthread_mutex_unlock(&s->lock);
        int32_t code = users_proto2ffi_stream_send(id, item, len);
        if (code != USERS_STREAM_WRITABLE) return code;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 20;
        pthread_mutex_lock(&s->lock);
        while (s->writable == seen && s->finals == 0) {
            if (pthread_cond_timedwait(&s->changed, &s->lock, &until) != 0) break;
        }
        pthread_mutex_unlock(&s->lock);
    }
}

#define IMPORTS 1000
#define LOOKUPS 2000

typedef struct {
    uint64_t id;
    call_state *s;
    int sent;
} sender_args;

/* Sends IMPORTS CreateUserRequests (every 100th with a bad email). */
static void *importer(void *arg) {
    sender_args *a = arg;
    for (int i = 0; i < IMPORTS; i++) {
        uint8_t req[128];
        char name[32], email[48];
        snprintf(name, sizeof name, "Imported %d", i);
        snprintf(email, sizeof email, i % 100 == 99 ? "bad-%d" : "import%d@example.com", i);
        size_t n = put_string(req, 1, name);
        n += put_string(req + n, 2, email);
        if (send_waiting(a->id, a->s, req, n) == USERS_STATUS_OK) a->sent++;
    }
    users_proto2ffi_stream_close_send(a->id);
    return NULL;
}

/* Sends LOOKUPS GetUserRequests (ids 1, 2, ... wrapping at 5). */
static void *looker(void *arg) {
    sender_args *a = arg;
    for (int i = 0; i < LOOKUPS; i++) {
        uint8_t req[16];
        size_t n = 0;
        req[n++] = 0x08;
        n += put_varint(req + n, (uint64_t)(i % 5) + 1);
        if (send_waiting(a->id, a->s, req, n) == USERS_STATUS_OK) a->sent++;
    }
    users_proto2ffi_stream_close_send(a->id);
    return NULL;
}

/* Reads a varint field of a flat message (fields 1..15). */
static uint64_t varint_field(const uint8_t *p, size_t len, uint32_t field) {
    size_t i = 0;
    while (i < len) {
        uint8_t key = p[i++];
        uint64_t v = 0;
        int shift = 0;
        if ((key & 7) == 0) {
            while (p[i] & 0x80) {
                v |= (uint64_t)(p[i++] & 0x7f) << shift;
                shift += 7;
            }
            v |= (uint64_t)p[i++] << shift;
            if ((uint32_t)(key >> 3) == field) return v;
        } else { /* length-delimited */
            uint64_t n = 0;
            while (p[i] & 0x80) {
                n |= (uint64_t)(p[i++] & 0x7f) << shift;
                shift += 7;
            }
            n |= (uint64_t)p[i++] << shift;
            i += (size_t)n;
        }
    }
    return 0;
}

typedef struct {
    call_state base;
    uint8_t response[2048];
    size_t response_len;
} import_state;

static void on_import(void *context, uint64_t call_id, int32_t status, const uint8_t *data,
                      size_t len) {
    import_state *s = context;
    if (status >= 0 && len <= sizeof s->response) { /* copy: data dies with the callback */
        memcpy(s->response, data, len);
        s->response_len = len;
    }
    on_event(&s->base, call_id, status, data, len);
}

static void client_stream_checks(void) {
    /* A client stream fed from a pthread. */
    import_state imp;
    call_state_init(&imp.base);
    imp.response_len = 0;
    uint64_t id = users_user_service_import_users_start(0, on_import, &imp);
    sender_args a = {id, &imp.base, 0};
    pthread_t t;
    pthread_create(&t, NULL, importer, &a);
    pthread_join(t, NULL);
    expect(wait_final(&imp.base) == USERS_STATUS_OK && a.sent == IMPORTS,
           "ImportUsers: 1000 requests sent from a pthread, then OK");
    expect(varint_field(imp.response, imp.response_len, 1) == 990 &&
               varint_field(imp.response, imp.response_len, 2) == 10,
           "ImportUsers created 990 users and counted 10 refused");
    expect(users_proto2ffi_stream_send(id, (const uint8_t *)"", 0) == USERS_STATUS_NOT_FOUND,
           "a completed client stream takes no more requests");
    call_state_destroy(&imp.base);

    /* A request that is not a message ends the call with its status. */
    call_state s;
    call_state_init(&s);
    id = users_user_service_import_users_start(0, on_event, &s);
    const uint8_t garbage[] = {0xff, 0xff, 0xff};
    expect(users_proto2ffi_stream_send(id, garbage, sizeof garbage) ==
               USERS_STATUS_INVALID_ARGUMENT,
           "stream_send refuses bytes that are not a CreateUserRequest");
    expect(wait_final(&s) == USERS_STATUS_INVALID_ARGUMENT && s.finals == 1,
           "the refused request ended the call with INVALID_ARGUMENT");
    call_state_destroy(&s);

    /* Cancelled while it waits for requests. */
    call_state_init(&s);
    id = users_user_service_import_users_start(0, on_event, &s);
    expect(users_proto2ffi_cancel(id) == USERS_STATUS_OK, "cancel finds the waiting client stream");
    expect(wait_final(&s) == USERS_STATUS_CANCELLED, "a cancelled client stream ends with CANCELLED");
    call_state_destroy(&s);

    /* A bidi stream: one pthread sends lookups, this one takes the answers. */
    call_state_init(&s);
    id = users_user_service_lookup_users_start(0, on_event, &s);
    sender_args b = {id, &s, 0};
    pthread_create(&t, NULL, looker, &b);
    int32_t status = -1;
    int answers = drain_stream(id, &s, &status);
    pthread_join(t, NULL);
    expect(status == USERS_STATUS_OK && b.sent == LOOKUPS && answers == LOOKUPS,
           "LookupUsers answered 2000 lookups sent from a pthread, in one call");
    call_state_destroy(&s);
}

/* ---- The app's KeyStore: Rust calls the host ----
 * The callback runs on the calling Rust thread and must not block: it
 * queues the call id; a host pthread answers with host_complete. */
#define KEY_QUEUE 64
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    uint64_t queued[KEY_QUEUE];
    int count;
    int answered;
    int stop;
} key_store;

static int32_t key_store_request(void *context, uint64_t call_id, int32_t method,
                                 const uint8_t *request, size_t request_len) {
    key_store *k = context;
    (void)request; /* a ReadSecretRequest; this store has one secret */
    (void)request_len;
    if (method == USERS_HOST_PING || method == USERS_HOST_CANCELLED) return USERS_STATUS_OK;
    if (method != USERS_KEY_STORE_METHOD_READ_SECRET) return USERS_STATUS_UNIMPLEMENTED;
    pthread_mutex_lock(&k->lock);
    int32_t code = USERS_STATUS_OK;
    if (k->count < KEY_QUEUE) {
        k->queued[k->count++] = call_id;
        pthread_cond_broadcast(&k->changed);
    } else {
        code = USERS_STATUS_RESOURCE_EXHAUSTED; /* refused: the call fails with it */
    }
    pthread_mutex_unlock(&k->lock);
    return code;
}

static void *key_store_thread(void *arg) {
    key_store *k = arg;
    /* ReadSecretResponse { bytes value = 1; } */
    static const char secret[] = "c-host-signing-key-0123456789";
    uint8_t answer[64];
    size_t n = 0;
    answer[n++] = 0x0a;
    answer[n++] = (uint8_t)(sizeof secret - 1);
    memcpy(answer + n, secret, sizeof secret - 1);
    n += sizeof secret - 1;
    pthread_mutex_lock(&k->lock);
    for (;;) {
        while (k->count == 0 && !k->stop) pthread_cond_wait(&k->changed, &k->lock);
        if (k->count == 0) break;
        uint64_t id = k->queued[--k->count];
        pthread_mutex_unlock(&k->lock);
        int32_t code = users_proto2ffi_host_complete(id, USERS_STATUS_OK, answer, n);
        pthread_mutex_lock(&k->lock);
        if (code == USERS_STATUS_OK) k->answered++;
    }
    pthread_mutex_unlock(&k->lock);
    return NULL;
}

#define TOKENS 32

static void host_checks(uint64_t user) {
    uint8_t req[16];
    size_t n = 0;
    req[n++] = 0x08; /* IssueTokenRequest.user_id */
    n += put_varint(req + n, user);
    call_state s;
    call_state_init(&s);
    users_user_service_issue_token_start(req, n, 0, on_event, &s);
    expect(wait_final(&s) == USERS_STATUS_UNAVAILABLE,
           "IssueToken is UNAVAILABLE until the app binds a KeyStore");
    call_state_destroy(&s);

    key_store k;
    pthread_mutex_init(&k.lock, NULL);
    pthread_cond_init(&k.changed, NULL);
    k.count = 0;
    k.answered = 0;
    k.stop = 0;
    uint64_t binding = users_key_store_host_bind(key_store_request, &k);
    expect(binding != 0, "users_key_store_host_bind returns a binding");
    pthread_t host;
    pthread_create(&host, NULL, key_store_thread, &k);
    /* Handlers on the library's threads ask the host at once. */
    static call_state calls[TOKENS];
    for (int i = 0; i < TOKENS; i++) {
        call_state_init(&calls[i]);
        users_user_service_issue_token_start(req, n, 0, on_event, &calls[i]);
    }
    int ok = 0;
    for (int i = 0; i < TOKENS; i++) {
        if (wait_final(&calls[i]) == USERS_STATUS_OK && calls[i].finals == 1) ok++;
        call_state_destroy(&calls[i]);
    }
    expect(ok == TOKENS, "32 IssueToken calls, each answered by the C host's thread");
    expect(users_proto2ffi_host_complete(424242, USERS_STATUS_OK, NULL, 0) ==
               USERS_STATUS_NOT_FOUND,
           "host_complete of an unknown call is NOT_FOUND");
    expect(users_proto2ffi_host_unbind(binding) == USERS_STATUS_OK, "host_unbind");
    expect(users_proto2ffi_host_unbind(binding) == USERS_STATUS_NOT_FOUND,
           "unbinding twice is NOT_FOUND");
    pthread_mutex_lock(&k.lock);
    k.stop = 1;
    pthread_cond_broadcast(&k.changed);
    pthread_mutex_unlock(&k.lock);
    pthread_join(host, NULL);
    expect(k.answered == TOKENS, "every answer was taken exactly once");
    pthread_cond_destroy(&k.changed);
    pthread_mutex_destroy(&k.lock);
}

int main(void) {
    uint8_t req[256];
    users_buffer out = {0};
    size_t n = 0;

    expect(users_proto2ffi_abi_version() == USERS_ABI_VERSION, "ABI version matches the header");
    expect(users_proto2ffi_fingerprint_user_service() == USERS_USER_SERVICE_FINGERPRINT,
           "fingerprint matches the header");

    expect(users_proto2ffi_set_log_sink(on_log, NULL) == USERS_STATUS_OK, "log sink registered");
    const char *bad_filter = "info,=bad==";
    expect(users_proto2ffi_set_log_filter((const uint8_t *)bad_filter, strlen(bad_filter), &out) ==
               USERS_STATUS_INVALID_ARGUMENT,
           "a bad log filter is refused");
    users_proto2ffi_free(&out);

    n += put_string(req + n, 1, "C Client");
    n += put_string(req + n, 2, "c@example.com");
    n += put_string(req + n, 5, "c-client");
    int32_t code = users_user_service_create_user(req, n, &out);
    expect(code == USERS_STATUS_OK, "CreateUser returns OK");
    uint64_t id = user_id(out.data, out.len);
    expect(id > 0, "CreateUser returns a user id");
    users_proto2ffi_free(&out);
    expect(out.data == NULL, "free zeroes the buffer");
    users_proto2ffi_free(&out); /* freeing a zero buffer is a no-op */
    expect(wait_for_created_log(), "the handler's log record reached the C callback with its span");
    expect(users_proto2ffi_set_log_sink(NULL, NULL) == USERS_STATUS_OK, "log sink removed");

    n = 0;
    req[n++] = 0x08;
    n += put_varint(req + n, 424242);
    code = users_user_service_get_user(req, n, &out);
    expect(code == USERS_STATUS_NOT_FOUND, "GetUser(424242) is NOT_FOUND");
    expect(out.len > 0, "the error payload is a google.rpc.Status");
    users_proto2ffi_free(&out);

    code = users_user_service_get_user(NULL, 0, &out);
    expect(code == USERS_STATUS_INVALID_ARGUMENT, "GetUser(id=0) is INVALID_ARGUMENT");
    users_proto2ffi_free(&out);

    code = users_user_service_get_user(NULL, 5, &out);
    expect(code == USERS_STATUS_INVALID_ARGUMENT, "NULL request with a length is refused");
    users_proto2ffi_free(&out);

    code = users_proto2ffi_metrics_text(&out);
    expect(code == USERS_STATUS_OK && out.len > 0 &&
               strstr((const char *)out.data, "# TYPE proto2ffi_calls_total counter") != NULL,
           "Prometheus metrics text");
    users_proto2ffi_free(&out);

    /* Two more users so the stream and the search have something to find. */
    const char *names[] = {"Ada Example", "Grace Example"};
    const char *emails[] = {"ada@example.com", "grace@example.com"};
    for (int i = 0; i < 2; i++) {
        n = 0;
        n += put_string(req + n, 1, names[i]);
        n += put_string(req + n, 2, emails[i]);
        n += put_string(req + n, 5, names[i]);
        users_user_service_create_user(req, n, &out);
        users_proto2ffi_free(&out);
    }
    async_checks();
    client_stream_checks();
    host_checks(id);

    printf("c client: %d passed, %d failed\n", passes, failures);
    return failures == 0 ? 0 : 1;
}
