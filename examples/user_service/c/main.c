/*
 * C client for the user-service example, built against the generated
 * header. Messages are encoded by hand (a few bytes of protobuf) to show the
 * wire contract; real C clients would use nanopb or upb.
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

    printf("c client: %d passed, %d failed\n", passes, failures);
    return failures == 0 ? 0 : 1;
}
