/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host's own I/O on the benchmark's image: the limit the virtio-blk
 * figures of bench/blk_payload.c are read against. The same phases (request
 * size, depth, count, random or sequential), with pread/pwrite from `depth`
 * threads, each its own request in flight, and the same output lines.
 *
 * Usage: blk-host-io IMAGE direct|buffered [SCALE_PERCENT]
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEPTH 32
#define WARMUP    32

struct phase {
    const char *name;
    bool write;
    uint32_t size;
    unsigned depth;
    unsigned count; /* 0: the whole file once */
    bool seq;
};

/* bench/blk_payload.c's phases, less the interrupt one. */
static const struct phase phases[] = {
    {"read-4k-qd1", false, 4096, 1, 3000, false},
    {"read-4k-qd32", false, 4096, 32, 8000, false},
    {"write-4k-qd1", true, 4096, 1, 2000, false},
    {"write-4k-qd32", true, 4096, 32, 4000, false},
    {"read-128k-seq-qd8", false, 128 * 1024, 8, 0, true},
    {"write-128k-seq-qd8", true, 128 * 1024, 8, 0, true},
};

struct job {
    const struct phase *p;
    int fd;
    uint64_t blocks; /* of p->size in the file */
    unsigned count;
    unsigned next; /* atomic: the next request's number */
    uint64_t *lat;  /* ns, one per request */
    const char *error;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *worker(void *arg)
{
    struct job *j = arg;
    uint8_t *buf;
    if (posix_memalign((void **)&buf, 4096, j->p->size) != 0) {
        j->error = "out of memory";
        return NULL;
    }
    memset(buf, 0x5a, j->p->size);
    uint64_t rng = 0x9e3779b97f4a7c15ULL ^ (uintptr_t)buf;
    for (;;) {
        unsigned i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
        if (i >= j->count)
            break;
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        uint64_t block = j->p->seq ? i % j->blocks : rng % j->blocks;
        off_t at = (off_t)(block * j->p->size);
        uint64_t t0 = now_ns();
        ssize_t n = j->p->write ? pwrite(j->fd, buf, j->p->size, at) : pread(j->fd, buf, j->p->size, at);
        j->lat[i] = now_ns() - t0;
        if (n != (ssize_t)j->p->size) {
            j->error = n < 0 ? strerror(errno) : "short transfer";
            break;
        }
    }
    free(buf);
    return NULL;
}

/* Runs count requests; returns the wall time in ns, 0 on failure. */
static uint64_t run(struct job *j, unsigned count)
{
    pthread_t t[MAX_DEPTH];
    unsigned n = j->p->depth;
    j->count = count;
    j->next = 0;
    uint64_t start = now_ns();
    for (unsigned i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, worker, j) != 0) {
            fprintf(stderr, "blk-host-io: pthread_create failed\n");
            exit(1);
        }
    for (unsigned i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    return j->error ? 0 : now_ns() - start;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[2], "direct") && strcmp(argv[2], "buffered"))) {
        fprintf(stderr, "usage: %s IMAGE direct|buffered [SCALE_PERCENT]\n", argv[0]);
        return 2;
    }
    unsigned scale = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 100;
    bool direct = !strcmp(argv[2], "direct");
    int fd = open(argv[1], O_RDWR | O_CLOEXEC | (direct ? O_DIRECT : 0));
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        fprintf(stderr, "blk-host-io: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
        const struct phase *p = &phases[i];
        struct job j = {.p = p, .fd = fd, .blocks = (uint64_t)st.st_size / p->size};
        unsigned count = p->count ? p->count : (unsigned)j.blocks;
        count = count * scale / 100 < WARMUP ? WARMUP : count * scale / 100;
        j.lat = calloc(count, sizeof(*j.lat));
        if (!j.lat || j.blocks == 0) {
            fprintf(stderr, "blk-host-io: %s: no memory or an image smaller than a request\n", p->name);
            return 1;
        }
        uint64_t ns = run(&j, WARMUP) ? run(&j, count) : 0;
        if (!ns) {
            fprintf(stderr, "blk-host-io: %s: %s\n", p->name, j.error);
            return 1;
        }
        qsort(j.lat, count, sizeof(*j.lat), cmp_u64);
        printf("BENCH phase=%s ops=%u bytes=%llu ns=%llu lat_p50=%llu lat_p99=%llu\n", p->name, count,
               (unsigned long long)count * p->size, (unsigned long long)ns,
               (unsigned long long)j.lat[count / 2], (unsigned long long)j.lat[(uint64_t)count * 99 / 100]);
        free(j.lat);
    }
    close(fd);
    return 0;
}
