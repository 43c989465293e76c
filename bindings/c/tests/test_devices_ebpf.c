/* sandbox_device_rules_via_ebpf, the setter rsandbox-surface's table added
 * (the Rust builder had it; neither binding did): the same device rules
 * enforced by the cgroup v1 `devices` controller, or, asked, by the cgroup
 * v2 eBPF program. Seen from inside (the box opens /dev/null, c 1:3, and is
 * refused /dev/zero, c 1:5) and in the outcome's report, which names the
 * mechanism. Root: device rules need a cgroup of the box's own, and the
 * eBPF program CAP_SYS_ADMIN; as another user that is the error, naming
 * the privilege. */
#define _GNU_SOURCE
#include "check.h"

#include <stdlib.h>

static const sandbox_device_rule_t RULES[] = {
    {false, 'a', SANDBOX_DEVICE_ANY, SANDBOX_DEVICE_ANY, "rwm"},
    {true, 'c', 1, 3, "rw"},
};

static const char *PROBE =
    "cat /dev/null && echo null_ok; head -c 1 /dev/zero >/dev/null 2>&1 || echo zero_refused";

/* Run the probe with the rules, via eBPF or not; check what the box saw and
 * that the report names `mechanism`. */
static void rules_hold(bool via_ebpf, const char *mechanism) {
    sandbox_t *sb = sandbox_new();
    CHECK_OK(sandbox_device_rules(sb, RULES, 2));
    CHECK_OK(sandbox_device_rules_via_ebpf(sb, via_ebpf));
    CHECK_OK(sandbox_stdout(sb, SANDBOX_STDIO_PIPE, -1));
    const char *argv[] = {"/bin/sh", "-c", PROBE};
    sandbox_child_t *child = NULL;
    CHECK_OK(sandbox_spawn(sb, argv, 3, &child));
    if (child != NULL) {
        char buf[256];
        read_all(sandbox_child_stdout_fd(child), buf, sizeof buf);
        sandbox_outcome_t o;
        CHECK_OK(sandbox_child_wait(child, &o));
        CHECK(o.exited && o.exit_code == 0, "exit %d", o.exit_code);
        CHECK(strcmp(buf, "null_ok\nzero_refused\n") == 0, "via_ebpf=%d: \"%s\"", via_ebpf, buf);
        char *json = NULL;
        CHECK_OK(sandbox_child_outcome_json(child, &json));
        CHECK(json != NULL && strstr(json, mechanism) != NULL, "via_ebpf=%d: report lacks \"%s\": %s",
              via_ebpf, mechanism, json ? json : "(null)");
        sandbox_string_free(json);
        sandbox_child_free(child);
    }
    sandbox_free(sb);
}

int main(void) {
    if (geteuid() != 0) {
        /* Unprivileged: loading the eBPF program is refused before spawn,
         * naming the privilege. */
        sandbox_t *sb = sandbox_new();
        CHECK_OK(sandbox_user_ns(sb));
        CHECK_OK(sandbox_device_rules(sb, RULES, 2));
        CHECK_OK(sandbox_device_rules_via_ebpf(sb, true));
        sandbox_outcome_t o;
        const char *argv[] = {"/bin/true"};
        CHECK_RC(sandbox_status(sb, argv, 1, &o), SANDBOX_PRIVILEGE);
        CHECK_MSG("CAP_SYS_ADMIN");
        sandbox_free(sb);
        return summary("test_devices_ebpf");
    }
    /* The v1 controller where it is mounted (this hybrid host), the eBPF
     * program on pure cgroup v2; asked, the eBPF program either way. */
    int v1 = access("/sys/fs/cgroup/devices/devices.allow", F_OK) == 0;
    rules_hold(false, v1 ? "cgroup v1 devices" : "eBPF BPF_CGROUP_DEVICE");
    rules_hold(true, "eBPF BPF_CGROUP_DEVICE");
    return summary("test_devices_ebpf");
}
