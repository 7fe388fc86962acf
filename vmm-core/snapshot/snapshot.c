/* SPDX-License-Identifier: Apache-2.0 */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acpi_pm.h"
#include "balloon.h"
#include "blk.h"
#include "console.h"
#include "cpu_hotplug.h"
#include "mem_hotplug.h"
#include "i8042.h"
#include "net.h"
#include "pci_hotplug.h"
#include "rng.h"
#include "rtc.h"
#include "serial.h"
#include "snapshot_kvm.h"
#include "virtio_pci.h"
#include "vsock.h"

#define URL_SCHEME "file://"
/* Pages are compared and written in runs of at most this many bytes. */
#define MEMORY_CHUNK (1u << 20)
#define PAGE_SIZE_4K 4096u

const char *snapshot_url_path(const char *url, const char *what, char *errbuf, size_t errlen)
{
    size_t n = strlen(URL_SCHEME);
    if (!url || strncmp(url, URL_SCHEME, n) != 0 || url[n] != '/') {
        snprintf(errbuf, errlen, "%s must be a file:///absolute/path URL, not '%.200s'", what,
                 url ? url : "");
        return NULL;
    }
    if (strlen(url + n) >= PATH_MAX - 32) {
        snprintf(errbuf, errlen, "%s is too long", what);
        return NULL;
    }
    return url + n;
}

static int sys_failed(char *errbuf, size_t errlen, const char *what, const char *dir, const char *name)
{
    int r = -errno;
    snprintf(errbuf, errlen, "snapshot: %s %s%s%s: %s", what, dir, name[0] ? "/" : "", name, strerror(errno));
    return r;
}

static int path_of(char *buf, size_t len, const char *dir, const char *name)
{
    int n = snprintf(buf, len, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* ---------------------------------------------------------------- save */

static int write_all(int fd, const void *data, size_t len, uint64_t offset)
{
    const uint8_t *p = data;
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)offset);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

/* Files are written under a temporary name and renamed into place: a
 * restored VM's RAM may be a private mapping of the very memory file being
 * replaced (a snapshot into the directory it was restored from), and that
 * mapping must keep its old file. */
static int create_tmp(const char *dir, const char *name, char *tmp, size_t len, char *errbuf, size_t errlen)
{
    int n = snprintf(tmp, len, "%s/%s.tmp", dir, name);
    if (n < 0 || (size_t)n >= len) {
        errno = ENAMETOOLONG;
        return sys_failed(errbuf, errlen, "cannot create", dir, name);
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return sys_failed(errbuf, errlen, "cannot create", dir, name);
    return fd;
}

/* Takes fd; r is the outcome of writing it. Makes it durable and renames
 * it to dir/name, or removes it. */
static int commit_tmp(int fd, int r, const char *tmp, const char *dir, const char *name, char *errbuf,
                      size_t errlen)
{
    char path[PATH_MAX];
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    close(fd);
    if (r == 0 && path_of(path, sizeof(path), dir, name) < 0)
        r = -ENAMETOOLONG;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        errno = -r;
        return sys_failed(errbuf, errlen, "cannot write", dir, name);
    }
    return 0;
}

static int write_file(const char *dir, const char *name, const void *data, size_t len, char *errbuf,
                      size_t errlen)
{
    char tmp[PATH_MAX];
    int fd = create_tmp(dir, name, tmp, sizeof(tmp), errbuf, errlen);
    if (fd < 0)
        return fd;
    return commit_tmp(fd, write_all(fd, data, len, 0), tmp, dir, name, errbuf, errlen);
}

/* memcmp of the buffer against itself one byte on is libc's vectorised
 * loop: a byte loop took 2 s over a mostly untouched 2 GiB guest
 * (docs/benchmarks.md, "Snapshot and restore"). */
static bool all_zero(const uint8_t *p, size_t len)
{
    return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

/* The regions at their file offsets; pages that are all zero stay holes,
 * so a mostly empty guest makes a small file. */
static int write_memory(const char *dir, const GuestMemory *mem, char *errbuf, size_t errlen)
{
    char tmp[PATH_MAX];
    int fd = create_tmp(dir, SNAPSHOT_MEMORY_FILE, tmp, sizeof(tmp), errbuf, errlen);
    if (fd < 0)
        return fd;
    int r = ftruncate(fd, (off_t)mem->ram_size) < 0 ? -errno : 0;
    for (size_t i = 0; r == 0 && i < mem->n_regions; i++) {
        const GuestRegion *g = &mem->regions[i];
        uint64_t off = 0;
        while (r == 0 && off < g->size) {
            /* Skip zero pages, then write the run of non-zero ones after. */
            while (off < g->size && all_zero(g->hva + off, PAGE_SIZE_4K))
                off += PAGE_SIZE_4K;
            uint64_t end = off;
            while (end < g->size && end - off < MEMORY_CHUNK && !all_zero(g->hva + end, PAGE_SIZE_4K))
                end += PAGE_SIZE_4K;
            if (end > off)
                r = write_all(fd, g->hva + off, end - off, g->file_offset + off);
            off = end;
        }
    }
    return commit_tmp(fd, r, tmp, dir, SNAPSHOT_MEMORY_FILE, errbuf, errlen);
}

static void save_devices(VmmDevices *d, SnapshotWriter *w)
{
    if (d->serial) {
        snapshot_section_begin(w, SNAPSHOT_SEC_DEV_SERIAL, 0);
        serial_save(d->serial, w);
        snapshot_section_end(w);
    }
    if (d->rtc) {
        snapshot_section_begin(w, SNAPSHOT_SEC_DEV_RTC, 0);
        rtc_save(d->rtc, w);
        snapshot_section_end(w);
    }
    if (d->i8042) {
        snapshot_section_begin(w, SNAPSHOT_SEC_DEV_I8042, 0);
        i8042_save(d->i8042, w);
        snapshot_section_end(w);
    }
    if (d->acpi_pm) {
        snapshot_section_begin(w, SNAPSHOT_SEC_DEV_ACPI_PM, 0);
        acpi_pm_save(d->acpi_pm, w);
        snapshot_section_end(w);
    }
    if (d->hotplug) {
        snapshot_section_begin(w, SNAPSHOT_SEC_DEV_PCI_HOTPLUG, 0);
        pci_hotplug_save(d->hotplug, w);
        snapshot_section_end(w);
    }
    if (d->cpu_hotplug) {
        snapshot_section_begin(w, SNAPSHOT_SEC_DEV_CPU_HOTPLUG, 0);
        cpu_hotplug_save(d->cpu_hotplug, w);
        snapshot_section_end(w);
    }
    if (d->mem_hotplug) {
        snapshot_section_begin(w, SNAPSHOT_SEC_DEV_MEM_HOTPLUG, 0);
        mem_hotplug_save(d->mem_hotplug, w);
        snapshot_section_end(w);
    }
}

/* Every virtio transport, in the order vmm_devices.c creates them (which is
 * what SNAPSHOT_SEC_VIRTIO instances count). out holds n_disks + n_nets + 4
 * (rng, console, vsock, balloon). */
static size_t virtio_transports(VmmDevices *d, VirtioPci **out)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n_disks; i++)
        out[n++] = virtio_blk_transport(d->disks[i]);
    if (d->rng)
        out[n++] = virtio_rng_transport(d->rng);
    if (d->console)
        out[n++] = virtio_console_transport(d->console);
    for (size_t i = 0; i < d->n_nets; i++)
        out[n++] = virtio_net_transport(d->nets[i]);
    if (d->vsock)
        out[n++] = virtio_vsock_transport(d->vsock);
    if (d->balloon)
        out[n++] = virtio_balloon_transport(d->balloon);
    return n;
}

static VirtioPci **transport_array(VmmDevices *d, size_t *n)
{
    VirtioPci **t = calloc(d->n_disks + d->n_nets + 4, sizeof(*t));
    if (t)
        *n = virtio_transports(d, t);
    return t;
}

static void save_virtio(VmmDevices *d, VirtioPci *const *transports, size_t n, SnapshotWriter *w)
{
    if (d->pci)
        pci_bus_save(d->pci, w);
    snapshot_section_begin(w, SNAPSHOT_SEC_PCI_SLOTS, 0);
    snapshot_put_u32(w, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        snapshot_put_u8(w, (uint8_t)virtio_pci_slot(transports[i]));
    snapshot_section_end(w);
    for (size_t i = 0; i < n; i++) {
        snapshot_section_begin(w, SNAPSHOT_SEC_VIRTIO, (uint32_t)i);
        virtio_pci_save(transports[i], w);
        snapshot_section_end(w);
    }
    if (d->balloon) {
        snapshot_section_begin(w, SNAPSHOT_SEC_VIRTIO_BALLOON, 0);
        virtio_balloon_save(d->balloon, w);
        snapshot_section_end(w);
    }
}

static int build_state(const SnapshotVm *vm, VirtioPci *const *transports, size_t n_transports,
                       const char *config, SnapshotWriter *w, char *errbuf, size_t errlen)
{
    int r;
    snapshot_writer_init(w);
    if ((r = snapshot_vm_save(vm->vm, w, errbuf, errlen)) < 0)
        return r;
    for (size_t i = 0; i < vm->n_vcpus; i++)
        if ((r = snapshot_vcpu_save(vm->vcpus[i], vm->vm->kvm_fd, w, errbuf, errlen)) < 0)
            return r;
    save_devices(vm->devices, w);
    save_virtio(vm->devices, transports, n_transports, w);
    SnapshotInfo info = {
        .config_crc = snapshot_crc32(0, config, strlen(config)),
        .config_size = strlen(config),
        .memory_size = vm->mem->ram_size,
        .n_vcpus = (uint32_t)vm->n_vcpus,
    };
    if ((r = snapshot_writer_finish(w, &info)) < 0)
        snprintf(errbuf, errlen, "snapshot: cannot build the state: %s", strerror(-r));
    return r;
}

int snapshot_save(const char *dir, const SnapshotVm *vm, char *errbuf, size_t errlen)
{
    int r;
    struct stat st;
    if (stat(dir, &st) < 0)
        return sys_failed(errbuf, errlen, "cannot use", dir, "");
    if (!S_ISDIR(st.st_mode)) {
        snprintf(errbuf, errlen, "snapshot: %s is not a directory", dir);
        return -ENOTDIR;
    }
    /* An older snapshot's state must not end up next to this one's files. */
    char path[PATH_MAX];
    if (path_of(path, sizeof(path), dir, SNAPSHOT_STATE_FILE) < 0) {
        errno = ENAMETOOLONG;
        return sys_failed(errbuf, errlen, "cannot write", dir, SNAPSHOT_STATE_FILE);
    }
    if (unlink(path) < 0 && errno != ENOENT)
        return sys_failed(errbuf, errlen, "cannot replace", dir, SNAPSHOT_STATE_FILE);

    char *config = vm_config_to_json(vm->cfg, true);
    size_t n_transports = 0;
    VirtioPci **transports = transport_array(vm->devices, &n_transports);
    if (!config || !transports) {
        free(config);
        free(transports);
        snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    /* Device workers stand still from the state's first byte to the
     * memory's last, so the rings in RAM match the queue positions. */
    for (size_t i = 0; i < n_transports; i++)
        virtio_pci_freeze(transports[i]);
    SnapshotWriter w;
    r = build_state(vm, transports, n_transports, config, &w, errbuf, errlen);
    if (r == 0)
        r = write_file(dir, SNAPSHOT_CONFIG_FILE, config, strlen(config), errbuf, errlen);
    if (r == 0)
        r = write_memory(dir, vm->mem, errbuf, errlen);
    for (size_t i = 0; i < n_transports; i++)
        virtio_pci_thaw(transports[i]);
    free(transports);
    /* Last: its presence says the other two are complete. */
    if (r == 0)
        r = write_file(dir, SNAPSHOT_STATE_FILE, w.buf, w.len, errbuf, errlen);
    if (r == 0) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) < 0)
            r = sys_failed(errbuf, errlen, "cannot sync", dir, "");
        if (dfd >= 0)
            close(dfd);
    }
    snapshot_writer_free(&w);
    free(config);
    return r;
}

/* ------------------------------------------------------------- restore */

/* Reads dir/name, at most max bytes, NUL-terminated. */
static int read_file(const char *dir, const char *name, size_t max, uint8_t **out, size_t *len, char *errbuf,
                     size_t errlen)
{
    char path[PATH_MAX];
    if (path_of(path, sizeof(path), dir, name) < 0) {
        errno = ENAMETOOLONG;
        return sys_failed(errbuf, errlen, "cannot open", dir, name);
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sys_failed(errbuf, errlen, "cannot open", dir, name);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int r = sys_failed(errbuf, errlen, "cannot stat", dir, name);
        close(fd);
        return r;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
        snprintf(errbuf, errlen, "snapshot: %s/%s is not a regular file of at most %zu bytes", dir, name,
                 max);
        close(fd);
        return -EINVAL;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size + 1);
    if (!buf) {
        close(fd);
        snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(fd, buf + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            int r = sys_failed(errbuf, errlen, "cannot read", dir, name);
            free(buf);
            close(fd);
            return r;
        }
        got += (size_t)n;
    }
    close(fd);
    buf[size] = '\0';
    *out = buf;
    *len = size;
    return 0;
}

static int mismatch(char *errbuf, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int mismatch(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(errbuf, errlen, "snapshot files do not match: ");
    if (n >= 0 && (size_t)n < errlen)
        vsnprintf(errbuf + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static int open_config(Snapshot *s, const char *dir, char *errbuf, size_t errlen)
{
    uint8_t *json = NULL;
    size_t len = 0;
    int r = read_file(dir, SNAPSHOT_CONFIG_FILE, CONFIG_MAX_INPUT, &json, &len, errbuf, errlen);
    if (r < 0)
        return r;
    if (len != s->state.info.config_size || snapshot_crc32(0, json, len) != s->state.info.config_crc) {
        free(json);
        return mismatch(errbuf, errlen, "%s/%s is not the configuration %s was taken with (size or checksum)",
                        dir, SNAPSHOT_CONFIG_FILE, SNAPSHOT_STATE_FILE);
    }
    ConfigError cerr = {0};
    r = vm_config_from_json((const char *)json, len, &s->config, &cerr);
    free(json);
    if (r == 0 && (r = vm_config_validate(&s->config, &cerr)) < 0)
        vm_config_free(&s->config);
    if (r < 0) {
        snprintf(errbuf, errlen, "snapshot: %s/%s: %s", dir, SNAPSHOT_CONFIG_FILE, cerr.message);
        return r;
    }
    s->has_config = true;
    uint64_t ram = s->config.memory.size +
                   (s->config.memory.hotplugged_size.present ? s->config.memory.hotplugged_size.value : 0);
    if (ram != s->state.info.memory_size)
        return mismatch(errbuf, errlen, "the configuration has %llu bytes of memory, the state %llu",
                        (unsigned long long)ram, (unsigned long long)s->state.info.memory_size);
    if (s->config.cpus.boot_vcpus != s->state.info.n_vcpus)
        return mismatch(errbuf, errlen, "the configuration has %u vCPUs, the state %u",
                        s->config.cpus.boot_vcpus, s->state.info.n_vcpus);
    return 0;
}

int snapshot_open(Snapshot *s, const char *source_url, char *errbuf, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->memory_fd = -1;
    const char *dir = snapshot_url_path(source_url, "source_url", errbuf, errlen);
    if (!dir)
        return -EINVAL;
    int r =
        read_file(dir, SNAPSHOT_STATE_FILE, SNAPSHOT_STATE_MAX, &s->state_buf, &s->state_len, errbuf, errlen);
    if (r < 0)
        goto fail;
    char perr[400];
    if ((r = snapshot_state_parse(s->state_buf, s->state_len, &s->state, perr, sizeof(perr))) < 0) {
        snprintf(errbuf, errlen, "%s/%s: %s", dir, SNAPSHOT_STATE_FILE, perr);
        goto fail;
    }
    if ((r = open_config(s, dir, errbuf, errlen)) < 0)
        goto fail;

    char path[PATH_MAX];
    if (path_of(path, sizeof(path), dir, SNAPSHOT_MEMORY_FILE) < 0) {
        errno = ENAMETOOLONG;
        r = sys_failed(errbuf, errlen, "cannot open", dir, SNAPSHOT_MEMORY_FILE);
        goto fail;
    }
    s->memory_fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (s->memory_fd < 0 || fstat(s->memory_fd, &st) < 0) {
        r = sys_failed(errbuf, errlen, "cannot open", dir, SNAPSHOT_MEMORY_FILE);
        goto fail;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != s->state.info.memory_size) {
        r = mismatch(
            errbuf, errlen, "%s/%s is %lld bytes, the snapshot's RAM is %llu (truncated or replaced?)", dir,
            SNAPSHOT_MEMORY_FILE, (long long)st.st_size, (unsigned long long)s->state.info.memory_size);
        goto fail;
    }
    return 0;

fail:
    snapshot_close(s);
    return r;
}

void snapshot_close(Snapshot *s)
{
    if (s->has_config)
        vm_config_free(&s->config);
    snapshot_state_free(&s->state);
    free(s->state_buf);
    if (s->memory_fd >= 0)
        close(s->memory_fd);
    memset(s, 0, sizeof(*s));
    s->memory_fd = -1;
}

static int copy_region(int fd, const GuestRegion *g, uint8_t *bounce)
{
    for (uint64_t off = 0; off < g->size;) {
        size_t want = g->size - off < MEMORY_CHUNK ? (size_t)(g->size - off) : MEMORY_CHUNK;
        ssize_t n = pread(fd, bounce, want, (off_t)(g->file_offset + off));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? -EIO : -errno;
        /* Zero chunks are left alone: the fresh memory reads as zero and
         * stays unallocated. */
        if (!all_zero(bounce, (size_t)n))
            memcpy(g->hva + off, bounce, (size_t)n);
        off += (uint64_t)n;
    }
    return 0;
}

/* Holes of the memory file (the guest's zero pages) at least this long stay
 * the fresh anonymous RAM under them: a guest write to a hole of a private
 * file mapping allocates the file's page, then copies it (on tmpfs the file
 * grows by it), and MAP_POPULATE copied every hole at restore. Shorter holes
 * are mapped with the data around them, and after MAX_FILE_MAPS mappings a
 * region's rest is mapped whole: both bound the mappings (vm.max_map_count). */
#define HOLE_MIN      (2u << 20)
#define MAX_FILE_MAPS 1024

/* The file offset of the first data at or after off, or end when none. */
static int64_t next_data(int fd, uint64_t off, uint64_t end)
{
    off_t d = lseek(fd, (off_t)off, SEEK_DATA);
    if (d < 0)
        return errno == ENXIO ? (int64_t)end : -errno;
    return (uint64_t)d < end ? d : (int64_t)end;
}

static int map_region(int fd, GuestRegion *g, const MemoryConfig *cfg, bool prefault)
{
    const uint64_t base = g->file_offset, limit = g->file_offset + g->size;
    int flags = MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE | (prefault ? MAP_POPULATE : 0);
    int64_t start = next_data(fd, base, limit);
    for (unsigned maps = 1; start >= 0 && (uint64_t)start < limit; maps++) {
        uint64_t from = (uint64_t)start & ~(uint64_t)(PAGE_SIZE_4K - 1), to = from;
        while (to < limit) {
            off_t hole = lseek(fd, (off_t)to, SEEK_HOLE);
            if (hole < 0)
                return -errno;
            to = (uint64_t)hole < limit ? (uint64_t)hole : limit;
            start = next_data(fd, to, limit);
            if (start < 0)
                return (int)start;
            if (maps == MAX_FILE_MAPS)
                to = start = (int64_t)limit;
            else if ((uint64_t)start - to >= HOLE_MIN || (uint64_t)start >= limit)
                break;
            else
                to = (uint64_t)start;
        }
        to = (to + PAGE_SIZE_4K - 1) & ~(uint64_t)(PAGE_SIZE_4K - 1);
        if (to > limit)
            to = limit;
        uint8_t *at = g->hva + (from - base);
        if (mmap(at, to - from, PROT_READ | PROT_WRITE, flags, fd, (off_t)from) == MAP_FAILED)
            return -errno;
        /* The same hints guest_memory_create() gives its own mappings. */
        madvise(at, to - from, MADV_DONTDUMP);
        if (cfg->mergeable)
            madvise(at, to - from, MADV_MERGEABLE);
    }
    return start < 0 ? (int)start : 0;
}

int snapshot_restore_memory(const Snapshot *s, GuestMemory *mem, const MemoryConfig *cfg, bool prefault,
                            char *errbuf, size_t errlen)
{
    if (mem->ram_size != s->state.info.memory_size)
        return mismatch(errbuf, errlen, "guest RAM is %llu bytes, the memory file %llu",
                        (unsigned long long)mem->ram_size, (unsigned long long)s->state.info.memory_size);
    /* Shared memory must stay in its memfd (others may map it) and huge
     * pages in hugetlbfs: both get a copy. */
    if (mem->memfd >= 0 || mem->hugepages) {
        uint8_t *bounce = malloc(MEMORY_CHUNK);
        if (!bounce) {
            snprintf(errbuf, errlen, "out of memory");
            return -ENOMEM;
        }
        int r = 0;
        for (size_t i = 0; r == 0 && i < mem->n_regions; i++)
            r = copy_region(s->memory_fd, &mem->regions[i], bounce);
        free(bounce);
        if (r < 0)
            snprintf(errbuf, errlen, "snapshot: cannot read the memory file: %s", strerror(-r));
        return r;
    }
    for (size_t i = 0; i < mem->n_regions; i++) {
        int r = map_region(s->memory_fd, &mem->regions[i], cfg, prefault);
        if (r < 0) {
            snprintf(errbuf, errlen, "snapshot: cannot map the memory file: %s", strerror(-r));
            return r;
        }
    }
    mem->file_backed = true;
    return 0;
}

static int load_device(const Snapshot *s, uint32_t type, const char *name,
                       int (*load)(void *, SnapshotReader *), void *dev, char *errbuf, size_t errlen)
{
    SnapshotReader r;
    if (!snapshot_reader_open(&r, &s->state, type, 0)) {
        snprintf(errbuf, errlen, "snapshot state is invalid: no %s section", name);
        return -EINVAL;
    }
    if (load(dev, &r) < 0 || !snapshot_reader_done(&r)) {
        snprintf(errbuf, errlen, "snapshot state is invalid: the %s section is malformed", name);
        return -EINVAL;
    }
    return 0;
}

static int load_serial(void *dev, SnapshotReader *r)
{
    return serial_load(dev, r);
}

static int load_rtc(void *dev, SnapshotReader *r)
{
    return rtc_load(dev, r);
}

static int load_i8042(void *dev, SnapshotReader *r)
{
    return i8042_load(dev, r);
}

static int load_acpi_pm(void *dev, SnapshotReader *r)
{
    return acpi_pm_load(dev, r);
}

static int load_pci_hotplug(void *dev, SnapshotReader *r)
{
    return pci_hotplug_load(dev, r);
}

static int load_cpu_hotplug(void *dev, SnapshotReader *r)
{
    return cpu_hotplug_load(dev, r);
}

static int load_mem_hotplug(void *dev, SnapshotReader *r)
{
    return mem_hotplug_load(dev, r);
}

/* A section snapshots of an older vmm lack: absent means nothing pending. */
static int load_optional(const Snapshot *s, uint32_t type, const char *name,
                         int (*load)(void *, SnapshotReader *), void *dev, char *errbuf, size_t errlen)
{
    if (!dev || !snapshot_state_find(&s->state, type, 0))
        return 0;
    return load_device(s, type, name, load, dev, errbuf, errlen);
}

int snapshot_slot_plan(const Snapshot *s, uint8_t *slots, size_t max, size_t *n, char *errbuf, size_t errlen)
{
    SnapshotReader r;
    *n = 0;
    if (!snapshot_reader_open(&r, &s->state, SNAPSHOT_SEC_PCI_SLOTS, 0))
        return 0;
    uint32_t count = snapshot_get_u32(&r);
    for (uint32_t i = 0; i < count && i < max && !r.failed; i++)
        slots[i] = snapshot_get_u8(&r);
    if (count > max || !snapshot_reader_done(&r)) {
        snprintf(errbuf, errlen, "snapshot state is invalid: malformed PCI slot section");
        return -EINVAL;
    }
    *n = count;
    return 0;
}

/* The PCI functions first: the transports' activation may raise MSI-X
 * vectors, which must be routed by then. */
static int restore_virtio(const Snapshot *s, VmmDevices *d, char *errbuf, size_t errlen)
{
    int r;
    if (d->pci && (r = pci_bus_load(d->pci, &s->state, errbuf, errlen)) < 0)
        return r;
    size_t n = 0;
    VirtioPci **transports = transport_array(d, &n);
    if (!transports) {
        snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    r = 0;
    for (size_t i = 0; r == 0 && i < n; i++) {
        SnapshotReader rd;
        if (!snapshot_reader_open(&rd, &s->state, SNAPSHOT_SEC_VIRTIO, (uint32_t)i) ||
            virtio_pci_load(transports[i], &rd) < 0) {
            snprintf(errbuf, errlen,
                     "snapshot state is invalid: virtio device %s: missing or malformed section",
                     virtio_pci_id(transports[i]));
            r = -EINVAL;
        }
    }
    free(transports);
    if (r == 0 && snapshot_state_find(&s->state, SNAPSHOT_SEC_VIRTIO, (uint32_t)n)) {
        snprintf(errbuf, errlen, "snapshot state is invalid: more virtio devices than the configuration has");
        r = -EINVAL;
    }
    if (r == 0 && d->balloon) {
        SnapshotReader rd;
        if (!snapshot_reader_open(&rd, &s->state, SNAPSHOT_SEC_VIRTIO_BALLOON, 0) ||
            virtio_balloon_load(d->balloon, &rd) < 0 || !snapshot_reader_done(&rd)) {
            snprintf(errbuf, errlen, "snapshot state is invalid: missing or malformed balloon section");
            r = -EINVAL;
        }
    }
    return r;
}

int snapshot_restore_state(const Snapshot *s, const SnapshotVm *vm, char *errbuf, size_t errlen)
{
    int r;
    if (vm->n_vcpus != s->state.info.n_vcpus)
        return mismatch(errbuf, errlen, "%zu vCPUs created, the state has %u", vm->n_vcpus,
                        s->state.info.n_vcpus);
    if ((r = snapshot_vm_restore(vm->vm, &s->state, errbuf, errlen)) < 0)
        return r;
    for (size_t i = 0; i < vm->n_vcpus; i++)
        if ((r = snapshot_vcpu_restore(vm->vcpus[i], vm->vm->kvm_fd, &s->state, errbuf, errlen)) < 0)
            return r;
    VmmDevices *d = vm->devices;
    if (d->serial &&
        (r = load_device(s, SNAPSHOT_SEC_DEV_SERIAL, "serial", load_serial, d->serial, errbuf, errlen)) < 0)
        return r;
    if (d->rtc && (r = load_device(s, SNAPSHOT_SEC_DEV_RTC, "RTC", load_rtc, d->rtc, errbuf, errlen)) < 0)
        return r;
    if (d->i8042 &&
        (r = load_device(s, SNAPSHOT_SEC_DEV_I8042, "i8042", load_i8042, d->i8042, errbuf, errlen)) < 0)
        return r;
    if (d->acpi_pm && (r = load_device(s, SNAPSHOT_SEC_DEV_ACPI_PM, "ACPI PM", load_acpi_pm, d->acpi_pm,
                                       errbuf, errlen)) < 0)
        return r;
    if ((r = load_optional(s, SNAPSHOT_SEC_DEV_CPU_HOTPLUG, "CPU hotplug", load_cpu_hotplug, d->cpu_hotplug,
                           errbuf, errlen)) < 0 ||
        (r = load_optional(s, SNAPSHOT_SEC_DEV_PCI_HOTPLUG, "PCI hotplug", load_pci_hotplug, d->hotplug, errbuf,
                           errlen)) < 0 ||
        (r = load_optional(s, SNAPSHOT_SEC_DEV_MEM_HOTPLUG, "memory hotplug", load_mem_hotplug, d->mem_hotplug,
                           errbuf, errlen)) < 0)
        return r;
    return restore_virtio(s, d, errbuf, errlen);
}
