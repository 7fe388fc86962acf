/* SPDX-License-Identifier: Apache-2.0 */
/* The C entry: bring up the basics every test shares, then run one test. */
#include "io.h"
#include "payload.h"

void payload_main(uint32_t entry, uint64_t info);

const char *test_name = "payload";
unsigned test_failures;

static char test_buf[32];

void fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    print("FAIL %s: ", test_name);
    vprint(fmt, ap);
    print("\n");
    va_end(ap);
    test_failures++;
}

void check(bool cond, const char *fmt, ...)
{
    va_list ap;

    if (cond)
        return;
    va_start(ap, fmt);
    print("FAIL %s: ", test_name);
    vprint(fmt, ap);
    print("\n");
    va_end(ap);
    test_failures++;
}

void finish(void)
{
    if (test_failures == 0)
        print("PASS %s\n", test_name);
    acpi_poweroff();
}

static const char *entry_name(enum boot_entry e)
{
    switch (e) {
    case BOOT_ENTRY_LINUX64:
        return "linux64";
    case BOOT_ENTRY_PVH:
        return "pvh";
    case BOOT_ENTRY_LINUX32:
        return "linux32";
    }
    return "unknown";
}

void payload_main(uint32_t entry, uint64_t info)
{
    serial_init();
    trap_init();
    cpu_init();
    boot_info_parse((enum boot_entry)entry, info);
    if (cmdline_get("test", test_buf, sizeof(test_buf)))
        test_name = test_buf;
    print("BOOT %s %s\n", entry_name(boot.entry), test_name);
    if (boot.error) {
        fail("%s", boot.error);
        finish();
    }
    if (!boot.cmdline) {
        fail("no kernel command line (so no test= either)");
        finish();
    }
    run_test(test_name);
    finish();
}
