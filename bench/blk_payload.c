/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test=blkbench: virtio-blk and interrupt figures measured inside the guest,
 * the same payload under vmm and under QEMU (bench/run_blk_bench.py).
 *
 * It links the guest suite's library and virtio-pci driver
 * (tests/guest/payload/), built with a deeper queue; this file stands in
 * for tests.c's run_test. The device is found through PCI configuration
 * mechanism #1 and its capabilities, so QEMU's layout (64-bit BAR 4, MSI-X
 * table in BAR 1) works as well as ours.
 *
 * CPL0 sets up (TSC calibration, PCI, MSI-X, the queue); the measuring runs
 * at CPL3, which kvm_pvm hosts run natively, where CPL0 code is emulated at
 * ~1.7 M instructions/s and would be most of what we timed. CPL3 cannot do
 * port I/O, so it ends in ud2 and the #UD handler prints and powers off.
 *
 * Output, one line per phase (ns figures), then PASS blkbench:
 *   BENCH phase=NAME ops=N bytes=B ns=T lat_p50=.. lat_p99=.. irqs=I kicks=K
 * and the interrupt phase adds irq_p50= irq_p99= used_irq_p50= irq_first=
 * (requests whose handler ran before the poll saw the used ring). A phase that
 * fails prints FAIL instead (and no PASS follows).
 */
#include "io.h"
#include "payload.h"
#include "virtio.h"

#define F_VERSION_1 (1ULL << 32)
#define F_EVENT_IDX (1ULL << 29)
#define BLK_T_IN    0
#define BLK_T_OUT   1
#define SECTOR      512

#define VEC_BENCH  0x40
#define MSR_APIC_BASE 0x1b
#define LAPIC_EOI     0xb0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INITIAL 0x380
#define LAPIC_TIMER_CURRENT 0x390
#define LAPIC_TIMER_DIVIDE  0x3e0

/* used_event this far ahead of what was seen is never crossed: no interrupt. */
#define NO_IRQ_DISTANCE 0x4000

#define MAX_DEPTH   32
#define DATA_BYTES  (1u << 20) /* depth x request size, at most */
#define MAX_SAMPLES 16384
#define WARMUP      32

struct phase {
    const char *name;
    uint32_t type;
    uint32_t size; /* bytes per request */
    unsigned depth;
    unsigned count; /* timed requests; 0: the whole disk once */
    bool seq;
    bool irq; /* completion by MSI-X interrupt, notify -> handler timed */
};

static const struct phase phases[] = {
    {"read-4k-qd1", BLK_T_IN, 4096, 1, 3000, false, false},
    {"read-4k-qd32", BLK_T_IN, 4096, 32, 8000, false, false},
    {"write-4k-qd1", BLK_T_OUT, 4096, 1, 2000, false, false},
    {"write-4k-qd32", BLK_T_OUT, 4096, 32, 4000, false, false},
    {"read-128k-seq-qd8", BLK_T_IN, 128 * 1024, 8, 0, true, false},
    {"write-128k-seq-qd8", BLK_T_OUT, 128 * 1024, 8, 0, true, false},
    {"irq-read-4k-qd1", BLK_T_IN, 4096, 1, 2000, false, true},
};

#define N_PHASES ARRAY_SIZE(phases)

struct result {
    uint64_t ops, bytes, ticks, irqs, kicks;
    uint64_t irq_first; /* handler ran before the poll saw the used ring */
    uint32_t lat_p50, lat_p99, irq_p50, irq_p99, used_irq_p50;
};

static struct vdev dev;
static uint64_t capacity; /* sectors */
static uint64_t tsc_khz;
static unsigned scale_pct;
static struct result results[N_PHASES];
static unsigned phases_done;
/* Set at CPL3, printed by the #UD handler: CPL3 has no port I/O. */
static const char *user_error;
static bool want_irq;        /* the running phase takes interrupts */
static uint16_t published;   /* avail->idx as last published */
static uint32_t kicks;       /* notifications written */

static struct {
    uint32_t type, reserved;
    uint64_t sector;
} hdrs[MAX_DEPTH] __attribute__((aligned(16)));
static volatile uint8_t statuses[MAX_DEPTH];
static uint64_t submitted_at[MAX_DEPTH];
static uint8_t data[DATA_BYTES] __attribute__((aligned(4096)));
static uint32_t samples[MAX_SAMPLES], irq_samples[MAX_SAMPLES], used_irq_samples[MAX_SAMPLES];

/* Written by bench_irq_entry. */
volatile uint64_t irq_tsc;
volatile uint32_t irq_count;
uint64_t eoi_reg;
void bench_irq_entry(void);

/* The interrupt's time is taken by its third instruction: on kvm_pvm hosts
 * each CPL0 instruction costs ~0.6 us, so trap_dispatch's register saving
 * would be part of the figure. */
__asm__(".text\n"
        ".globl bench_irq_entry\n"
        "bench_irq_entry:\n"
        "    pushq %rax\n"
        "    pushq %rdx\n"
        "    rdtsc\n"
        "    movl %eax, irq_tsc(%rip)\n"
        "    movl %edx, irq_tsc+4(%rip)\n"
        "    incl irq_count(%rip)\n"
        "    movq eoi_reg(%rip), %rax\n"
        "    movl $0, (%rax)\n"
        "    popq %rdx\n"
        "    popq %rax\n"
        "    iretq\n");

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)::"memory");
    return (uint64_t)hi << 32 | lo;
}

/* A full barrier without SSE2's mfence: the avail index store must be
 * visible before used->flags is read (virtio 1.2, 2.7.13). */
static inline void full_barrier(void)
{
    __asm__ volatile("lock addl $0, (%%rsp)" ::: "memory", "cc");
}

/* TSC ticks per millisecond against the LAPIC timer, which counts at the
 * 1 GHz APIC bus in KVM's in-kernel LAPIC (ours and QEMU's alike). */
static uint64_t calibrate_tsc_khz(uintptr_t lapic)
{
    mmio_write32(lapic + LAPIC_TIMER_DIVIDE, 0xb); /* divide by 1 */
    mmio_write32(lapic + LAPIC_LVT_TIMER, 1u << 16); /* masked one-shot */
    mmio_write32(lapic + LAPIC_TIMER_INITIAL, 0xffffffffu);
    uint32_t c0 = mmio_read32(lapic + LAPIC_TIMER_CURRENT), c1;
    uint64_t t0 = rdtsc(), t1;
    do {
        t1 = rdtsc();
        c1 = mmio_read32(lapic + LAPIC_TIMER_CURRENT);
    } while (c0 - c1 < 20000000u); /* 20 ms */
    mmio_write32(lapic + LAPIC_TIMER_INITIAL, 0);
    return (t1 - t0) * 1000000 / (c0 - c1);
}

/* ------------------------------------------------------------ CPL3 */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t next_random(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void sort_u32(uint32_t *a, unsigned n)
{
    /* Shell sort (Ciura's gaps): a few thousand samples, native speed. */
    static const unsigned gaps[] = {1750, 701, 301, 132, 57, 23, 10, 4, 1};
    for (unsigned g = 0; g < ARRAY_SIZE(gaps); g++) {
        unsigned gap = gaps[g];
        for (unsigned i = gap; i < n; i++) {
            uint32_t v = a[i];
            unsigned j = i;
            for (; j >= gap && a[j - gap] > v; j -= gap)
                a[j] = a[j - gap];
            a[j] = v;
        }
    }
}

static uint32_t percentile(uint32_t *a, unsigned n, unsigned pct)
{
    if (n == 0)
        return 0;
    sort_u32(a, n);
    return a[(uint64_t)n * pct / 100 < n ? (uint64_t)n * pct / 100 : n - 1];
}

struct run {
    const struct phase *p;
    uint64_t next_sector, span; /* span: sectors the offsets cover */
};

/* Puts request `slot` (descriptors 3*slot .. 3*slot+2) in the avail ring;
 * the index is published by kick(). */
static void queue_request(struct run *r, unsigned slot)
{
    uint64_t per = r->p->size / SECTOR, sector;
    if (r->p->seq) {
        sector = r->next_sector;
        r->next_sector = (r->next_sector + per) % r->span;
    } else {
        sector = next_random() % (r->span / per) * per;
    }
    hdrs[slot].type = r->p->type;
    hdrs[slot].reserved = 0;
    hdrs[slot].sector = sector;
    statuses[slot] = 0xee;
    uint16_t head = (uint16_t)(3 * slot);
    bool in = r->p->type == BLK_T_IN;
    dev.desc[head] = (struct vring_desc){(uintptr_t)&hdrs[slot], 16, VIRTQ_DESC_F_NEXT, (uint16_t)(head + 1)};
    dev.desc[head + 1] = (struct vring_desc){(uintptr_t)&data[(uint64_t)slot * r->p->size], r->p->size,
                                             (uint16_t)(VIRTQ_DESC_F_NEXT | (in ? VIRTQ_DESC_F_WRITE : 0)),
                                             (uint16_t)(head + 2)};
    dev.desc[head + 2] = (struct vring_desc){(uintptr_t)&statuses[slot], 1, VIRTQ_DESC_F_WRITE, 0};
    dev.avail[2 + dev.avail_idx % dev.qsize] = head;
    dev.avail_idx++;
}

/* Publishes what was queued and notifies only when the device's
 * avail_event asks for it, and sets used_event for the interrupt (or none):
 * VIRTIO_F_EVENT_IDX as Linux's virtio_ring uses it (virtio 1.2, 2.7.10). */
static void kick(void)
{
    uint16_t old = published, now = dev.avail_idx;
    volatile uint16_t *used_event = &dev.avail[2 + dev.qsize];
    volatile uint16_t *avail_event = &dev.used[2 + 4 * dev.qsize];

    *used_event = (uint16_t)(dev.used_seen + (want_irq ? 0 : NO_IRQ_DISTANCE));
    __asm__ volatile("" ::: "memory"); /* x86 keeps stores in order */
    dev.avail[1] = now;
    published = now;
    full_barrier();
    if ((uint16_t)(now - *avail_event - 1) < (uint16_t)(now - old)) {
        mmio_write16(dev.notify_addr, 0);
        kicks++;
    }
}

/* Runs `total` requests at the phase's depth; with `timed`, fills res and
 * the sample arrays. False (user_error set) when the device fails. */
static bool run_requests(struct run *r, unsigned total, bool timed, struct result *res)
{
    const struct phase *p = r->p;
    unsigned depth = p->depth, issued = 0, done = 0, n_irq = 0;
    uint64_t timeout = tsc_khz * 5000; /* 5 s without a completion */
    uint32_t irqs_before = irq_count, kicks_before = kicks;
    uint64_t start = rdtsc();

    for (; issued < depth && issued < total; issued++) {
        queue_request(r, issued);
        submitted_at[issued] = rdtsc();
    }
    kick();
    uint64_t last_progress = rdtsc();
    while (done < total) {
        if (dev.used[1] == dev.used_seen) {
            if (rdtsc() - last_progress > timeout) {
                user_error = "no completion for 5 s";
                return false;
            }
            cpu_relax();
            continue;
        }
        uint64_t now = rdtsc();
        last_progress = now;
        bool requeued = false;
        while (dev.used[1] != dev.used_seen) {
            volatile uint32_t *elem = (volatile uint32_t *)(dev.used + 2) + 2 * (dev.used_seen % dev.qsize);
            unsigned slot = elem[0] / 3;
            dev.used_seen++;
            if (slot >= depth || elem[0] % 3) {
                user_error = "used ring names a descriptor we never submitted";
                return false;
            }
            if (statuses[slot] != 0) {
                user_error = "request completed with a non-zero status";
                return false;
            }
            if (timed && done < MAX_SAMPLES)
                samples[done] = (uint32_t)(now - submitted_at[slot]);
            if (p->irq) {
                /* Wait for this completion's interrupt before the next request. */
                while (irq_count == irqs_before + n_irq) {
                    if (rdtsc() - now > timeout) {
                        user_error = "no MSI-X interrupt for a completion within 5 s";
                        return false;
                    }
                    cpu_relax();
                }
                n_irq++;
                if (timed && done < MAX_SAMPLES) {
                    irq_samples[done] = (uint32_t)(irq_tsc - submitted_at[slot]);
                    used_irq_samples[done] = irq_tsc > now ? (uint32_t)(irq_tsc - now) : 0;
                }
                if (timed && irq_tsc <= now)
                    res->irq_first++;
            }
            done++;
            if (issued < total) {
                queue_request(r, slot);
                submitted_at[slot] = rdtsc();
                issued++;
                requeued = true;
            }
        }
        if (requeued)
            kick();
    }
    if (timed) {
        unsigned n = done < MAX_SAMPLES ? done : MAX_SAMPLES;
        res->ticks = rdtsc() - start;
        res->ops = done;
        res->bytes = (uint64_t)done * p->size;
        res->irqs = irq_count - irqs_before;
        res->kicks = kicks - kicks_before;
        res->lat_p50 = percentile(samples, n, 50);
        res->lat_p99 = percentile(samples, n, 99);
        if (p->irq) {
            res->irq_p50 = percentile(irq_samples, n, 50);
            res->irq_p99 = percentile(irq_samples, n, 99);
            res->used_irq_p50 = percentile(used_irq_samples, n, 50);
        }
    }
    return true;
}

static void bench_user(void)
{
    for (unsigned i = 0; i < N_PHASES; i++) {
        const struct phase *p = &phases[i];
        struct run r = {.p = p, .span = capacity / (p->size / SECTOR) * (p->size / SECTOR)};
        unsigned count = p->count ? p->count : (unsigned)(r.span / (p->size / SECTOR));
        count = count * scale_pct / 100 < WARMUP ? WARMUP : count * scale_pct / 100;
        /* Interrupts only where they are measured, as a polling driver asks. */
        want_irq = p->irq;
        if (!run_requests(&r, WARMUP, false, NULL) || !run_requests(&r, count, true, &results[i]))
            break;
        phases_done++;
    }
    __asm__ volatile("ud2");
}

/* ------------------------------------------------------------ CPL0 */

static uint64_t to_ns(uint64_t ticks)
{
    return ticks * 1000000 / tsc_khz;
}

static void report(struct trap_frame *f)
{
    (void)f;
    print("BENCH tsc_khz=%lu\n", tsc_khz);
    for (unsigned i = 0; i < phases_done; i++) {
        const struct result *r = &results[i];
        print("BENCH phase=%s ops=%lu bytes=%lu ns=%lu lat_p50=%lu lat_p99=%lu irqs=%lu kicks=%lu", phases[i].name,
              r->ops, r->bytes, to_ns(r->ticks), to_ns(r->lat_p50), to_ns(r->lat_p99), r->irqs, r->kicks);
        if (phases[i].irq)
            print(" irq_p50=%lu irq_p99=%lu used_irq_p50=%lu irq_first=%lu", to_ns(r->irq_p50), to_ns(r->irq_p99),
                  to_ns(r->used_irq_p50), r->irq_first);
        print("\n");
    }
    if (phases_done < N_PHASES)
        fail("phase %s: %s", phases[phases_done].name, user_error ? user_error : "stopped");
    vdev_reset(&dev);
    finish();
}

static void blkbench(void)
{
    acpi_init(false);
    pic_disable();
    lapic_init();
    uintptr_t lapic = (uintptr_t)(rdmsr(MSR_APIC_BASE) & 0xfffff000u);
    eoi_reg = lapic + LAPIC_EOI;
    tsc_khz = calibrate_tsc_khz(lapic);
    scale_pct = (unsigned)cmdline_get_u64("scale", 100);

    /* Configuration mechanism #1: the one every PC VMM has (QEMU's q35
     * ECAM is elsewhere than ours, -M pc has none). */
    pci_ecam_base = 0;
    if (!vdev_find(&dev, VIRTIO_DEV_BLK)) {
        fail("no virtio-blk (modern, 1af4:1042) on bus 0");
        return;
    }
    if (dev.bar == 0 || dev.bar + dev.notify >= 0x100000000ULL) {
        fail("virtio structures at BAR 0x%lx: unassigned or above the 4 GiB identity map", dev.bar);
        return;
    }
    if (!(vdev_device_features(&dev) & F_EVENT_IDX)) {
        fail("the device does not offer VIRTIO_F_EVENT_IDX");
        return;
    }
    if (!vdev_msix_setup(&dev, 0, lapic_id(), VEC_BENCH) || !vdev_init_msix(&dev, F_VERSION_1 | F_EVENT_IDX, 0))
        return;
    capacity = mmio_read32(dev.bar + dev.device) | (uint64_t)mmio_read32(dev.bar + dev.device + 4) << 32;
    print("INFO blkbench: 00:%02x.0 virtio structures in BAR at 0x%lx, queue size %u, %lu sectors, TSC %lu kHz\n",
          dev.slot, dev.bar, dev.qsize, capacity, tsc_khz);
    if (dev.qsize < 3 * MAX_DEPTH) {
        fail("queue size %u: %u requests of 3 descriptors do not fit", dev.qsize, MAX_DEPTH);
        return;
    }
    if (capacity < DATA_BYTES / SECTOR) {
        fail("disk of %lu sectors: at least %u wanted", capacity, DATA_BYTES / SECTOR);
        return;
    }
    trap_set_gate(VEC_BENCH, bench_irq_entry);
    trap_set_handler(6, report);
    enter_user(bench_user, user_stack_top);
}

void run_test(const char *name)
{
    if (strlen(name) == 8 && !memcmp(name, "blkbench", 8))
        blkbench();
    else
        fail("unknown test (this payload only runs test=blkbench)");
}
