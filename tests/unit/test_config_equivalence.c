/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The same VM written as Cloud Hypervisor command-line options and as its
 * JSON document must resolve to the same configuration: both paths are
 * parsed and validated, then compared through their canonical JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

typedef struct EquivalenceCase {
    const char *name;
    VmParams params;
    const char *json;
} EquivalenceCase;

#define LIST(...) ((const char *const[]){__VA_ARGS__})

static const EquivalenceCase cases[] = {
    {
        .name = "defaults with a kernel",
        .params = {.kernel = "/boot/vmlinuz"},
        .json = "{\"payload\":{\"kernel\":\"/boot/vmlinuz\"}}",
    },
    {
        .name = "cpus, memory and payload",
        .params =
            {
                .cpus = "boot=2,max=4,topology=1:2:1:2,max_phys_bits=40",
                .memory = "size=1G,shared=on,prefault=on,thp=off",
                .kernel = "/k",
                .initramfs = "/i",
                .cmdline = "console=ttyS0 quiet",
            },
        .json = "{\"cpus\":{\"boot_vcpus\":2,\"max_vcpus\":4,"
                "\"topology\":{\"threads_per_core\":1,\"cores_per_die\":2,"
                "\"dies_per_package\":1,\"packages\":2},\"max_phys_bits\":40},"
                "\"memory\":{\"size\":1073741824,\"shared\":true,\"prefault\":true,\"thp\":false},"
                "\"payload\":{\"kernel\":\"/k\",\"initramfs\":\"/i\",\"cmdline\":\"console=ttyS0 quiet\"}}",
    },
    {
        .name = "disks, rate limits and a rate-limit group",
        .params =
            {
                .kernel = "/k",
                .rate_limit_groups = LIST("id=group0,bw_size=1000,bw_refill_time=100"),
                .n_rate_limit_groups = 1,
                .disks = LIST("path=/a.img,readonly=on,num_queues=1,queue_size=64,id=disk0",
                              "path=/b.img,rate_limit_group=group0,serial=SN1",
                              "path=/c.img,ops_size=100,ops_refill_time=10,ops_one_time_burst=5"),
                .n_disks = 3,
            },
        .json = "{\"payload\":{\"kernel\":\"/k\"},"
                "\"rate_limit_groups\":[{\"id\":\"group0\",\"rate_limiter_config\":"
                "{\"bandwidth\":{\"size\":1000,\"one_time_burst\":0,\"refill_time\":100}}}],"
                "\"disks\":[{\"path\":\"/a.img\",\"readonly\":true,\"queue_size\":64,\"id\":\"disk0\"},"
                "{\"path\":\"/b.img\",\"rate_limit_group\":\"group0\",\"serial\":\"SN1\"},"
                "{\"path\":\"/c.img\",\"rate_limiter_config\":{\"ops\":"
                "{\"size\":100,\"one_time_burst\":5,\"refill_time\":10}}}]}",
    },
    {
        .name = "net, rng, balloon, vsock, serial and console",
        .params =
            {
                .cpus = "boot=2",
                .kernel = "/k",
                .net = LIST("tap=tap0,mac=52:54:00:12:34:56,ip=10.0.0.1,mask=255.0.0.0,mtu=1500,"
                            "num_queues=4,queue_size=512,offload_ufo=off,id=net0"),
                .n_net = 1,
                .rng = "src=/dev/random",
                .balloon = "size=64M,deflate_on_oom=on,free_page_reporting=on",
                .vsock = "cid=3,socket=/tmp/v.sock,id=vsock0",
                .serial = "file=/tmp/serial.log",
                .console = "off",
            },
        .json = "{\"cpus\":{\"boot_vcpus\":2,\"max_vcpus\":2},\"payload\":{\"kernel\":\"/k\"},"
                "\"net\":[{\"tap\":\"tap0\",\"ip\":\"10.0.0.1\",\"mask\":\"255.0.0.0\","
                "\"mac\":\"52:54:00:12:34:56\",\"mtu\":1500,\"num_queues\":4,\"queue_size\":512,"
                "\"offload_ufo\":false,\"id\":\"net0\"}],"
                "\"rng\":{\"src\":\"/dev/random\"},"
                "\"balloon\":{\"size\":67108864,\"deflate_on_oom\":true,\"free_page_reporting\":true},"
                "\"vsock\":{\"cid\":3,\"socket\":\"/tmp/v.sock\",\"id\":\"vsock0\"},"
                "\"serial\":{\"mode\":\"File\",\"file\":\"/tmp/serial.log\"},"
                "\"console\":{\"mode\":\"Off\"}}",
    },
    {
        .name = "memory zones, numa and platform",
        .params =
            {
                .cpus = "boot=2",
                .memory = "size=0",
                .memory_zones = LIST("id=mem0,size=1G", "id=mem1,size=1G,shared=on"),
                .n_memory_zones = 2,
                .numa = LIST("guest_numa_id=0,cpus=[0],memory_zones=mem0,distances=[1@20]",
                             "guest_numa_id=1,cpus=[1],memory_zones=mem1,distances=[0@20]"),
                .n_numa = 2,
                .platform = "num_pci_segments=1,serial_number=abc,uuid=1-2-3,oem_strings=[a,b]",
                .kernel = "/k",
                .pvpanic = true,
                .watchdog = true,
            },
        .json = "{\"cpus\":{\"boot_vcpus\":2,\"max_vcpus\":2},"
                "\"memory\":{\"size\":0,\"zones\":[{\"id\":\"mem0\",\"size\":1073741824},"
                "{\"id\":\"mem1\",\"size\":1073741824,\"shared\":true}]},"
                "\"numa\":[{\"guest_numa_id\":0,\"cpus\":[0],\"memory_zones\":[\"mem0\"],"
                "\"distances\":[{\"destination\":1,\"distance\":20}]},"
                "{\"guest_numa_id\":1,\"cpus\":[1],\"memory_zones\":[\"mem1\"],"
                "\"distances\":[{\"destination\":0,\"distance\":20}]}],"
                "\"platform\":{\"num_pci_segments\":1,\"serial_number\":\"abc\",\"uuid\":\"1-2-3\","
                "\"oem_strings\":[\"a\",\"b\"]},"
                "\"payload\":{\"kernel\":\"/k\"},\"pvpanic\":true,\"watchdog\":true}",
    },
};

static void assert_same_config(const EquivalenceCase *c)
{
    VmConfig from_args, from_json;
    ConfigError err = {0};

    if (vm_config_parse(&c->params, &from_args, &err) < 0)
        fail_msg("%s: options rejected: %s", c->name, err.message);
    if (vm_config_from_json(c->json, strlen(c->json), &from_json, &err) < 0)
        fail_msg("%s: JSON rejected: %s", c->name, err.message);
    if (vm_config_validate(&from_json, &err) < 0)
        fail_msg("%s: JSON does not validate: %s", c->name, err.message);

    char *a = vm_config_to_json(&from_args, true);
    char *b = vm_config_to_json(&from_json, true);
    assert_non_null(a);
    assert_non_null(b);
    if (strcmp(a, b) != 0)
        fail_msg("%s: options and JSON differ\n--- options:\n%s\n--- json:\n%s", c->name, a, b);
    free(a);
    free(b);
    vm_config_free(&from_args);
    vm_config_free(&from_json);
}

static void test_cli_and_json_agree(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_same_config(&cases[i]);
}

/* The JSON a config prints is itself a valid input giving the same config. */
static void test_printed_json_reads_back(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        VmConfig first, second;
        ConfigError err = {0};
        if (vm_config_parse(&cases[i].params, &first, &err) < 0)
            fail_msg("%s: %s", cases[i].name, err.message);
        char *printed = vm_config_to_json(&first, false);
        assert_non_null(printed);
        if (vm_config_from_json(printed, strlen(printed), &second, &err) < 0)
            fail_msg("%s: printed JSON rejected: %s\n%s", cases[i].name, err.message, printed);
        assert_int_equal(vm_config_validate(&second, &err), 0);
        char *again = vm_config_to_json(&second, false);
        assert_non_null(again);
        assert_string_equal(printed, again);
        free(printed);
        free(again);
        vm_config_free(&first);
        vm_config_free(&second);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_and_json_agree),
        cmocka_unit_test(test_printed_json_reads_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
