/* SPDX-License-Identifier: Apache-2.0 */
/* The kernel loaders with a hostile image: the input is the kernel file
 * (bzImage, ELF vmlinux or PVH ELF, told apart by the loader itself), loaded
 * into 64 MiB of guest RAM with a command line. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "boot.h"
#include "guest_memory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static GuestMemory mem;
    static int fd = -1;
    static char path[64];
    char err[512];
    if (fd < 0) {
        MemoryConfig cfg;
        memset(&cfg, 0, sizeof(cfg));
        cfg.size = 64ULL << 20;
        if (guest_memory_create(&mem, &cfg, err, sizeof(err)) < 0 ||
            (fd = memfd_create("fuzz-kernel", MFD_CLOEXEC)) < 0)
            abort();
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    PayloadConfig payload = {.kernel = path, .cmdline = (char *)"console=ttyS0 panic=-1"};
    X86BootSetup boot;
    x86_load_payload(&mem, &payload, 0xe0000, &boot, err, sizeof(err));
    return 0;
}
