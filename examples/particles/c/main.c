/*
 * C client of the particles library: fixed-layout structs through the
 * generated header, no encoding. Steps particles, round-trips a struct that
 * holds every field kind (each value changed by the library in a known
 * way), sends a hostile struct, and builds a luma histogram of pixels that
 * stay in this program's memory. Exit status 0 when every check passes.
 * Built and run by `cargo xtask clients` (also for 32-bit with -m32 when
 * the toolchain can).
 */
#include <stdio.h>
#include <string.h>

#include "particles.h"

static int failures = 0;

#define CHECK(cond)                                              \
    do {                                                         \
        if (!(cond)) {                                           \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                          \
        }                                                        \
    } while (0)

int main(void) {
    particles_buffer error = {0};
    particles_Particle a, b;
    particles_Probe probe, mirrored;
    int i;

    CHECK(particles_proto2ffi_abi_version() == PARTICLES_ABI_VERSION);

    /* Step: 60 steps of 1/60 s at vz = 6 moves z by 6. */
    memset(&a, 0, sizeof a);
    a.vz = 6.0f;
    for (i = 0; i < 30; i++) {
        CHECK(particles_particles_step(&a, &b, NULL) == PARTICLES_STATUS_OK);
        CHECK(particles_particles_step(&b, &a, NULL) == PARTICLES_STATUS_OK);
    }
    CHECK(a.z > 5.99f && a.z < 6.01f);
    CHECK(a.vy < -9.8f);

    /* Mirror: every field kind at its offset. */
    memset(&probe, 0, sizeof probe);
    memcpy(probe.name, "abc", 3);
    probe.name_len = 3;
    probe.alive = 1;
    probe.position.x = 1.5;
    probe.trail_count = 2;
    probe.trail[0].x = 10;
    probe.trail[1].x = 20;
    probe.samples_count = 2;
    probe.samples[0] = 1.5f;
    probe.samples[1] = -2.0f;
    probe.tag_len = 2;
    probe.tag[0] = 7;
    probe.tag[1] = 9;
    probe.phases_count = 1;
    probe.phases[0] = 2;
    probe.flags_count = 1;
    probe.flags[0] = 1;
    probe.scalars.i64 = -5;
    probe.scalars.u64 = 41;
    probe.scalars.db = 1.25;
    probe.scalars.phase = 3;
    probe.scalars.last = 1;
    CHECK(particles_particles_mirror(&probe, &mirrored, &error) == PARTICLES_STATUS_OK);
    particles_proto2ffi_free(&error);
    CHECK(mirrored.name_len == 3 && memcmp(mirrored.name, "cba", 3) == 0);
    CHECK(mirrored.alive == 0);
    CHECK(mirrored.position.x == 2.5 && mirrored.position.y == 2.0);
    CHECK(mirrored.trail_count == 2 && mirrored.trail[0].x == -20 && mirrored.trail[1].x == -10);
    CHECK(mirrored.samples_count == 2 && mirrored.samples[0] == 3.0f && mirrored.samples[1] == -4.0f);
    CHECK(mirrored.tag_len == 2 && mirrored.tag[0] == 9 && mirrored.tag[1] == 7);
    CHECK(mirrored.phases_count == 1 && mirrored.phases[0] == 2);
    CHECK(mirrored.flags_count == 1 && mirrored.flags[0] == 0);
    CHECK(mirrored.scalars.flag == 1 && mirrored.scalars.last == 0);
    CHECK(mirrored.scalars.i64 == -4 && mirrored.scalars.u64 == 42);
    CHECK(mirrored.scalars.db == 2.5 && mirrored.scalars.phase == 0);

    /* A hostile struct: a bool of 7 is refused, with the reason in *error. */
    probe.scalars.last = 7;
    CHECK(particles_particles_mirror(&probe, &mirrored, &error) == PARTICLES_STATUS_INVALID_ARGUMENT);
    CHECK(error.len > 0);
    particles_proto2ffi_free(&error);
    /* Request and response overlapping: refused, not undefined behaviour. */
    CHECK(particles_particles_step(&a, &a, NULL) == PARTICLES_STATUS_INVALID_ARGUMENT);
    CHECK(particles_particles_step(NULL, &a, NULL) == PARTICLES_STATUS_INVALID_ARGUMENT);

    /* Luma: pixels and bins in memory this program owns. */
    {
        enum { W = 64, H = 32, N = W * H };
        uint32_t *pixels = particles_proto2ffi_alloc(N * sizeof(uint32_t), particles_Frame_PIXELS_ALIGN);
        uint64_t bins[256];
        uint64_t total = 0;
        particles_Frame frame;
        particles_Histogram hist;
        CHECK(pixels != NULL);
        for (i = 0; i < N; i++) pixels[i] = 0xff000000u | (uint32_t)(i % 256) * 0x010101u;
        memset(&frame, 0, sizeof frame);
        memset(&hist, 0, sizeof hist);
        frame.width = W;
        frame.height = H;
        frame.pixels.data = (uint64_t)(uintptr_t)pixels;
        frame.pixels.len = frame.pixels.capacity = N;
        hist.bins.data = (uint64_t)(uintptr_t)bins;
        hist.bins.capacity = 256;
        CHECK(particles_particles_luma(&frame, &hist, &error) == PARTICLES_STATUS_OK);
        particles_proto2ffi_free(&error);
        CHECK(hist.bins.len == 256 && hist.pixels == N);
        for (i = 0; i < 256; i++) total += bins[i];
        CHECK(total == N);
        CHECK(bins[255] == N / 256); /* grey pixels: luma equals the level */
        particles_proto2ffi_dealloc(pixels, N * sizeof(uint32_t), particles_Frame_PIXELS_ALIGN);
    }

    /* The Particle pool (pool_size = 50000): zeroed structs at stable
     * addresses; double and foreign releases are refused. */
    {
        particles_Particle *p = particles_proto2ffi_pool_particle_acquire();
        particles_Particle *q;
        particles_Particle local;
        CHECK(p != NULL);
        CHECK(p->x == 0.0f && p->vz == 0.0f);
        p->vz = 60.0f;
        CHECK(particles_particles_step(p, &b, NULL) == PARTICLES_STATUS_OK);
        CHECK(b.z > 0.99f && b.z < 1.01f);
        CHECK(particles_proto2ffi_pool_particle_release(p) == PARTICLES_STATUS_OK);
        CHECK(particles_proto2ffi_pool_particle_release(p) == PARTICLES_STATUS_INVALID_ARGUMENT);
        CHECK(particles_proto2ffi_pool_particle_release(&local) == PARTICLES_STATUS_INVALID_ARGUMENT);
        CHECK(particles_proto2ffi_pool_particle_release(NULL) == PARTICLES_STATUS_INVALID_ARGUMENT);
        q = particles_proto2ffi_pool_particle_acquire();
        CHECK(q == p); /* the most recently released object comes back first */
        particles_proto2ffi_pool_particle_finalize(q);
        particles_proto2ffi_pool_particle_finalize(q); /* refused, counted */
    }

    printf("particles C client: %d failures\n", failures);
    return failures == 0 ? 0 : 1;
}
