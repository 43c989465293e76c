/* Process attributes and cgroup knobs seen from inside the box:
 * supplementary groups, umask, oom_score_adj, a joined namespace, device
 * nodes, device rules (cgroup v1 devices, or eBPF on cgroup v2), cpusets, block I/O throttles
 * and net_cls, plus their bad inputs (typed errors before spawn).
 * Run as root (groups outside a user namespace, device nodes and the v1
 * controllers need it); as another user it checks the errors only. */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>

/* Whether this process is in a v1 hierarchy with `controller`. */
static int has_v1(const char *controller) {
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (f == NULL) return 0;
    char line[512];
    int found = 0;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        char *ctrls = strchr(line, ':');
        char *end = ctrls ? strchr(ctrls + 1, ':') : NULL;
        if (end == NULL) continue;
        *end = '\0';
        for (char *tok = strtok(ctrls + 1, ","); tok; tok = strtok(NULL, ","))
            if (strcmp(tok, controller) == 0) found = 1;
    }
    fclose(f);
    return found;
}

/* Whether capability `cap` is in this process's effective set. */
static int has_cap(int cap) {
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) return 0;
    char line[256];
    unsigned long long eff = 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "CapEff: %llx", &eff) == 1) break;
    fclose(f);
    return (eff >> cap) & 1;
}

static void identity(void) {
    char buf[512];
    /* Supplementary groups, umask and oom_score_adj, outside a user ns. */
    sandbox_t *sb = sandbox_new();
    const uint32_t groups[] = {4242, 4343};
    CHECK_OK(sandbox_uid(sb, 1000));
    CHECK_OK(sandbox_gid(sb, 1000));
    CHECK_OK(sandbox_groups(sb, groups, 2));
    CHECK_OK(sandbox_umask(sb, 027));
    CHECK_OK(sandbox_oom_score_adj(sb, 500));
    sandbox_outcome_t o =
        run_sh(sb, "id -u; id -G; umask; cat /proc/self/oom_score_adj", buf, sizeof buf);
    CHECK(o.exited && o.exit_code == 0, "exit %d", o.exit_code);
    CHECK(strcmp(buf, "1000\n1000 4242 4343\n0027\n500\n") == 0, "identity: \"%s\"", buf);
    sandbox_free(sb);

    /* In a user namespace whose gid map the caller (root) is privileged
     * over, setgroups is allowed: the groups show up there too. */
    sb = sandbox_new();
    CHECK_OK(sandbox_user_ns(sb));
    CHECK_OK(sandbox_uid_map(sb, 0, 100000, 65536));
    CHECK_OK(sandbox_gid_map(sb, 0, 100000, 65536));
    CHECK_OK(sandbox_uid(sb, 0));
    CHECK_OK(sandbox_gid(sb, 0));
    const uint32_t one[] = {7};
    CHECK_OK(sandbox_groups(sb, one, 1));
    o = run_sh(sb, "id -G", buf, sizeof buf);
    CHECK(o.exited && strcmp(buf, "0 7\n") == 0, "groups in a user ns: \"%s\"", buf);
    sandbox_free(sb);

    /* A lower oom_score_adj needs CAP_SYS_RESOURCE (which root may lack,
     * in a container): applied, or the child's typed failure. */
    sb = sandbox_new();
    CHECK_OK(sandbox_oom_score_adj(sb, -250));
    sandbox_result_t rc;
    o = run_sh_rc(sb, "cat /proc/self/oom_score_adj", buf, sizeof buf, &rc);
    if (has_cap(24 /* CAP_SYS_RESOURCE */)) {
        CHECK(rc == SANDBOX_OK && o.exited && strcmp(buf, "-250\n") == 0,
              "oom_score_adj: %s \"%s\"", sandbox_result_name((int)rc), buf);
    } else {
        CHECK(rc == SANDBOX_SPAWN_FAILED && sandbox_last_error_errno() == EACCES,
              "without CAP_SYS_RESOURCE: %s errno %d", sandbox_result_name((int)rc),
              sandbox_last_error_errno());
        CHECK_MSG("oom_score_adj");
    }
    sandbox_free(sb);
}

/* A box joins the UTS namespace of another (held by a sleeping box). */
static void join(void) {
    char buf[512], path[64];
    sandbox_t *holder = sandbox_new();
    CHECK_OK(sandbox_uts_ns(holder));
    CHECK_OK(sandbox_hostname(holder, "joined"));
    const char *argv[] = {"/bin/sleep", "30"};
    sandbox_child_t *child = NULL;
    CHECK_OK(sandbox_spawn(holder, argv, 2, &child));
    if (child == NULL) {
        sandbox_free(holder);
        return;
    }
    snprintf(path, sizeof path, "/proc/%d/ns/uts", sandbox_child_pid(child));
    sandbox_t *sb = sandbox_new();
    CHECK_OK(sandbox_join_ns(sb, CLONE_NEWUTS, path));
    sandbox_outcome_t o = run_sh(sb, "uname -n", buf, sizeof buf);
    CHECK(o.exited && strcmp(buf, "joined\n") == 0, "joined uts: \"%s\"", buf);
    sandbox_free(sb);
    sandbox_child_free(child); /* kill on drop */
    sandbox_free(holder);
}

static void devices(void) {
    char buf[512];
    /* Rules that deny the mknod of a node the box makes: refused before
     * spawn (checked as root: without it the mount namespace is refused
     * first). */
    const sandbox_device_rule_t deny_all[] = {
        {false, 'a', SANDBOX_DEVICE_ANY, SANDBOX_DEVICE_ANY, "rwm"}};
    sandbox_t *sb = sandbox_new();
    CHECK_OK(sandbox_mount_ns(sb));
    CHECK_OK(sandbox_dev(sb, "/dev"));
    CHECK_OK(sandbox_device(sb, "/dev/null2", SANDBOX_DEVICE_CHAR, 1, 3, 0666, 0, 0));
    CHECK_OK(sandbox_device_rules(sb, deny_all, 1));
    CHECK_RC(sandbox_validate(sb), SANDBOX_INVALID_CONFIG);
    CHECK_MSG("deny its mknod");
    sandbox_free(sb);


    /* A node made in the box's own /dev. */
    sb = sandbox_new();
    CHECK_OK(sandbox_mount_ns(sb));
    CHECK_OK(sandbox_dev(sb, "/dev"));
    CHECK_OK(sandbox_device(sb, "/dev/null2", SANDBOX_DEVICE_CHAR, 1, 3, 0640, 0, 5));
    CHECK_OK(sandbox_device(sb, "/dev/pipe", SANDBOX_DEVICE_FIFO, 0, 0, 0600, 0, 0));
    sandbox_outcome_t o = run_sh(
        sb, "stat -c '%F %t:%T %a %u:%g' /dev/null2 /dev/pipe; echo x > /dev/null2 && echo w",
        buf, sizeof buf);
    CHECK(o.exited && o.exit_code == 0, "exit %d", o.exit_code);
    CHECK(strcmp(buf, "character special file 1:3 640 0:5\nfifo 0:0 600 0:0\nw\n") == 0,
          "device nodes: \"%s\"", buf);
    sandbox_free(sb);

    /* Device rules: /dev/null (c 1:3) denied, /dev/zero still readable. */
    const sandbox_device_rule_t deny_null[] = {
        {false, 'c', 1, 3, "rwm"},
    };
    sb = sandbox_new();
    CHECK_OK(sandbox_device_rules(sb, deny_null, 1));
    /* Enforced by the v1 controller here, by the eBPF program on pure v2. */
    o = run_sh(sb,
               "echo x > /dev/null 2>/dev/null && echo null-ok || echo null-denied; "
               "head -c 1 /dev/zero | wc -c",
               buf, sizeof buf);
    CHECK(o.exited && strcmp(buf, "null-denied\n1\n") == 0, "device rules: \"%s\"", buf);
    sandbox_free(sb);

    /* An allow list: everything denied but the node the box makes. */
    const sandbox_device_rule_t allow_list[] = {
        {false, 'a', SANDBOX_DEVICE_ANY, SANDBOX_DEVICE_ANY, "rwm"},
        {true, 'c', 1, 3, "rwm"},
    };
    sb = sandbox_new();
    CHECK_OK(sandbox_mount_ns(sb));
    CHECK_OK(sandbox_dev(sb, "/dev"));
    CHECK_OK(sandbox_device(sb, "/dev/null2", SANDBOX_DEVICE_CHAR, 1, 3, 0666, 0, 0));
    CHECK_OK(sandbox_device_rules(sb, allow_list, 2));
    o = run_sh(sb,
               "echo x > /dev/null2 && echo null2-ok; "
               "head -c 1 /dev/zero >/dev/null 2>&1 && echo zero-ok || echo zero-denied",
               buf, sizeof buf);
    CHECK(o.exited && strcmp(buf, "null2-ok\nzero-denied\n") == 0, "allow list: \"%s\"", buf);
    sandbox_free(sb);
}

static void cgroup_knobs(void) {
    char buf[512];
    /* A cpuset of one CPU. */
    sandbox_t *sb = sandbox_new();
    CHECK_OK(sandbox_cpuset_cpus(sb, "0"));
    CHECK_OK(sandbox_cpuset_mems(sb, "0"));
    sandbox_outcome_t o = run_sh(sb, "grep -E '^(Cpus|Mems)_allowed_list' /proc/self/status",
                                 buf, sizeof buf);
    CHECK(o.exited && strcmp(buf, "Cpus_allowed_list:\t0\nMems_allowed_list:\t0\n") == 0,
          "cpuset: \"%s\"", buf);
    sandbox_free(sb);

    /* A read throttle on the first disk, read back from the box's own
     * blkio cgroup. */
    unsigned major = 0, minor = 0;
    FILE *f = fopen("/sys/block/vda/dev", "r");
    if (f == NULL) f = fopen("/sys/block/sda/dev", "r");
    if (f == NULL) f = fopen("/sys/block/loop0/dev", "r");
    CHECK(f != NULL && fscanf(f, "%u:%u", &major, &minor) == 2, "a block device number");
    if (f != NULL) fclose(f);
    sb = sandbox_new();
    CHECK_OK(sandbox_blkio_throttle(sb, SANDBOX_IO_READ_BPS, major, minor, 1048576));
    CHECK_OK(sandbox_blkio_throttle(sb, SANDBOX_IO_WRITE_IOPS, major, minor, 100));
    o = run_sh(sb,
               "d=/sys/fs/cgroup/blkio$(grep :blkio: /proc/self/cgroup | cut -d: -f3); "
               "cat $d/blkio.throttle.read_bps_device $d/blkio.throttle.write_iops_device",
               buf, sizeof buf);
    char want[128];
    snprintf(want, sizeof want, "%u:%u 1048576\n%u:%u 100\n", major, minor, major, minor);
    CHECK(o.exited && strcmp(buf, want) == 0, "blkio throttle: \"%s\", want \"%s\"", buf, want);
    sandbox_free(sb);

    /* net_cls: the class id in the box's cgroup, or, where no v1 net_cls
     * hierarchy is mounted, a typed error before spawn. */
    sb = sandbox_new();
    CHECK_OK(sandbox_net_classid(sb, 0x100001));
    sandbox_result_t rc;
    o = run_sh_rc(sb,
                  "cat /sys/fs/cgroup/net_cls$(grep -E ':net_cls(,|:)' /proc/self/cgroup | "
                  "cut -d: -f3)/net_cls.classid",
                  buf, sizeof buf, &rc);
    if (has_v1("net_cls")) {
        CHECK(rc == SANDBOX_OK && strcmp(buf, "1048577\n") == 0, "net_cls: %s \"%s\"",
              sandbox_result_name((int)rc), buf);
    } else {
        CHECK(rc == SANDBOX_UNSUPPORTED, "no v1 net_cls: %s", sandbox_result_name((int)rc));
        CHECK_MSG("net_cls");
    }
    sandbox_free(sb);
}

/* A mount step in its JSON form: a tmpfs with a source and a mode. Rootless
 * (a user namespace), so it runs as root and as nobody. */
static void mount_step_json(void) {
    char buf[512];
    sandbox_t *sb = sandbox_new();
    CHECK_OK(sandbox_user_ns(sb));
    CHECK_OK(sandbox_pid_ns(sb)); /* a /proc in the default root view */
    CHECK_OK(sandbox_mount_ns(sb));
    CHECK_OK(sandbox_mount_step(
        sb, "{\"type\":\"tmpfs\",\"dst\":\"/tmp/inner\",\"size\":1048576,"
            "\"source\":\"boxtmp\",\"mode\":448}"));
    sandbox_outcome_t o =
        run_sh(sb, "stat -c %a /tmp/inner; grep -c ' /tmp/inner .* boxtmp ' /proc/self/mountinfo",
               buf, sizeof buf);
    CHECK(o.exited && strcmp(buf, "700\n1\n") == 0, "tmpfs step: \"%s\"", buf);
    CHECK_RC(sandbox_mount_step(sb, "{\"type\":\"tmpfs\",\"dst\":\"/x\",\"sise\":1}"),
             SANDBOX_INVALID_CONFIG);
    CHECK_MSG("sise");
    CHECK_RC(sandbox_mount_step(sb, NULL), SANDBOX_NULL_PARAMETER);
    sandbox_free(sb);
}

/* The five capability sets given one by one (OCI semantics): box root
 * gets the bounding set at exec, nothing inheritable or ambient unless
 * listed; an ambient capability that is not also inheritable is refused
 * before spawn. Rootless (a user namespace): root and nobody. */
static void capability_sets(void) {
    char buf[512];
    const char *two[] = {"CAP_KILL", "CAP_NET_BIND_SERVICE"};
    sandbox_t *sb = sandbox_new();
    CHECK_OK(sandbox_user_ns(sb));
    CHECK_OK(sandbox_uid(sb, 0));
    CHECK_OK(sandbox_gid(sb, 0));
    CHECK_OK(sandbox_cap_set(sb, SANDBOX_CAP_BOUNDING, two, 2));
    CHECK_OK(sandbox_cap_set(sb, SANDBOX_CAP_EFFECTIVE, two, 2));
    CHECK_OK(sandbox_cap_set(sb, SANDBOX_CAP_PERMITTED, two, 2));
    sandbox_outcome_t o = run_sh(sb, "grep -E '^Cap(Inh|Eff|Bnd|Amb)' /proc/self/status", buf,
                                 sizeof buf);
    CHECK(o.exited &&
              strcmp(buf, "CapInh:\t0000000000000000\nCapEff:\t0000000000000420\n"
                          "CapBnd:\t0000000000000420\nCapAmb:\t0000000000000000\n") == 0,
          "sets: \"%s\"", buf);
    CHECK_RC(sandbox_cap_set(sb, 5, two, 2), SANDBOX_INVALID_ARGUMENT);
    CHECK_MSG("unknown value 5");
    CHECK_OK(sandbox_cap_set(sb, SANDBOX_CAP_AMBIENT, two, 1));
    const char *argv[] = {"/bin/true"};
    sandbox_child_t *child = (sandbox_child_t *)0x1;
    CHECK_RC(sandbox_spawn(sb, argv, 1, &child), SANDBOX_INVALID_CONFIG);
    CHECK_MSG("permitted and inheritable");
    CHECK(child == (sandbox_child_t *)0x1, "child_out untouched");
    sandbox_free(sb);
}

/* Bad values: typed errors before anything is spawned. */
static void bad_inputs(void) {
    /* umask and oom_score_adj are checked when the spawn is planned
     * (sandbox_validate does not reach them). */
    const char *argv[] = {"/bin/true"};
    sandbox_child_t *child = (sandbox_child_t *)0x1;
    sandbox_t *sb = sandbox_new();
    CHECK_OK(sandbox_umask(sb, 01000));
    CHECK_RC(sandbox_spawn(sb, argv, 1, &child), SANDBOX_INVALID_CONFIG);
    CHECK_MSG("umask");
    sandbox_free(sb);

    int bad_adj[] = {-1001, 1001};
    for (int i = 0; i < 2; i++) {
        sb = sandbox_new();
        CHECK_OK(sandbox_oom_score_adj(sb, bad_adj[i]));
        CHECK_RC(sandbox_spawn(sb, argv, 1, &child), SANDBOX_INVALID_CONFIG);
        CHECK_MSG("oom_score_adj");
        sandbox_free(sb);
    }
    CHECK(child == (sandbox_child_t *)0x1, "child_out untouched");

    sb = sandbox_new();
    CHECK_RC(sandbox_groups(sb, NULL, 2), SANDBOX_NULL_PARAMETER);
    CHECK_MSG("gids is NULL");
    CHECK_OK(sandbox_groups(sb, NULL, 0));
    CHECK_RC(sandbox_join_ns(sb, 0x4242, "/proc/self/ns/net"), SANDBOX_INVALID_ARGUMENT);
    CHECK_MSG("CLONE_NEW");
    CHECK_RC(sandbox_device(sb, "/dev/x", 7, 1, 3, 0666, 0, 0), SANDBOX_INVALID_ARGUMENT);
    CHECK_MSG("unknown value 7");
    CHECK_RC(sandbox_blkio_throttle(sb, 9, 8, 0, 1), SANDBOX_INVALID_ARGUMENT);
    CHECK_RC(sandbox_device_rules(sb, NULL, 1), SANDBOX_NULL_PARAMETER);
    const sandbox_device_rule_t bad_number[] = {{true, 'c', 1LL << 32, 3, "r"}};
    CHECK_RC(sandbox_device_rules(sb, bad_number, 1), SANDBOX_INVALID_ARGUMENT);
    CHECK_MSG("rules[0].major");
    const sandbox_device_rule_t no_access[] = {{true, 'c', 1, 3, NULL}};
    CHECK_RC(sandbox_device_rules(sb, no_access, 1), SANDBOX_NULL_PARAMETER);
    CHECK_MSG("rules[0].access is NULL");
    CHECK_OK(sandbox_validate(sb)); /* the failed setters left it as it was */
    sandbox_free(sb);

    /* Values the core refuses at validation. */
    const sandbox_device_rule_t bad_kind[] = {{true, 'x', 1, 3, "r"}};
    const sandbox_device_rule_t bad_access[] = {{true, 'c', 1, 3, "rx"}};
    const sandbox_device_rule_t *bad_rules[] = {bad_kind, bad_access};
    for (int i = 0; i < 2; i++) {
        sb = sandbox_new();
        CHECK_OK(sandbox_device_rules(sb, bad_rules[i], 1));
        CHECK_RC(sandbox_validate(sb), SANDBOX_INVALID_CONFIG);
        CHECK_MSG("device_rules");
        sandbox_free(sb);
    }

    sb = sandbox_new();
    CHECK_OK(sandbox_cpuset_cpus(sb, "zero"));
    CHECK_RC(sandbox_validate(sb), SANDBOX_INVALID_CONFIG);
    CHECK_MSG("cpuset_cpus");
    sandbox_free(sb);

    sb = sandbox_new();
    CHECK_OK(sandbox_blkio_weight(sb, 5));
    CHECK_RC(sandbox_validate(sb), SANDBOX_INVALID_CONFIG);
    CHECK_MSG("blkio_weight");
    sandbox_free(sb);

    sb = sandbox_new();
    CHECK_OK(sandbox_net_priority(sb, "a/b", 1));
    CHECK_RC(sandbox_validate(sb), SANDBOX_INVALID_CONFIG);
    CHECK_MSG("net_priority");
    CHECK_RC(sandbox_net_priority(sb, "\xff", 1), SANDBOX_INVALID_UTF8);
    sandbox_free(sb);
}

int main(void) {
    bad_inputs();
    mount_step_json();
    capability_sets();
    if (geteuid() == 0) {
        identity();
        join();
        devices();
        cgroup_knobs();
    }
    return summary("test_knobs");
}
