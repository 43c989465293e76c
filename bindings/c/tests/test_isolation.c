/* Isolation and limits seen from inside the box, read through a pipe
 * (test_spawn.c reads a child's pipe fd directly):
 * namespaces, the filesystem steps, seccomp (default and OCI JSON),
 * capabilities and Landlock, a
 * memory limit reported as OOM, a timeout reported as timed out. */
#define _GNU_SOURCE
#include "check.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static void namespaces(void) {
    char buf[512];
    sandbox_t *sb = sandbox_new();
    CHECK_OK(sandbox_pid_ns(sb));
    CHECK_OK(sandbox_mount_ns(sb));
    CHECK_OK(sandbox_uts_ns(sb));
    CHECK_OK(sandbox_net_ns(sb));
    CHECK_OK(sandbox_ipc_ns(sb));
    CHECK_OK(sandbox_hostname(sb, "cbox"));
    sandbox_outcome_t o = run_sh(sb, "echo $PPID $(uname -n) $(cat /proc/net/dev | wc -l)", buf,
                                 sizeof buf);
    CHECK(o.exited && o.exit_code == 0, "exit %d", o.exit_code);
    /* PPID 1: the box's init; our hostname; only lo (2 header lines + lo). */
    CHECK(strcmp(buf, "1 cbox 3\n") == 0, "inside view: \"%s\"", buf);
    sandbox_free(sb);

    /* A user namespace: root inside, as asked. */
    sb = sandbox_new();
    CHECK_OK(sandbox_user_ns(sb));
    CHECK_OK(sandbox_uid(sb, 0));
    CHECK_OK(sandbox_gid(sb, 0));
    o = run_sh(sb, "id -u; id -g", buf, sizeof buf);
    CHECK(o.exited && o.exit_code == 0 && strcmp(buf, "0\n0\n") == 0, "ids: \"%s\"", buf);
    sandbox_free(sb);
}

static void filesystem(void) {
    char buf[512];
    char dir[] = "/tmp/sandbox-ctest-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    sandbox_t *sb = sandbox_new();
    CHECK_OK(sandbox_mount_ns(sb));
    CHECK_OK(sandbox_pid_ns(sb));
    CHECK_OK(sandbox_tmpfs(sb, "/tmp", 1 << 20));
    CHECK_OK(sandbox_bind(sb, dir, "/tmp/rw"));
    CHECK_OK(sandbox_ro_bind(sb, dir, "/tmp/ro"));
    CHECK_OK(sandbox_file(sb, "/tmp/hello", (const uint8_t *)"hi\n", 3));
    sandbox_outcome_t o = run_sh(sb,
                                 "cat /tmp/hello; echo x > /tmp/rw/w && echo rw-ok; "
                                 "echo y > /tmp/ro/w 2>/dev/null || echo ro-denied",
                                 buf, sizeof buf);
    CHECK(o.exited && o.exit_code == 0, "exit %d", o.exit_code);
    CHECK(strcmp(buf, "hi\nrw-ok\nro-denied\n") == 0, "fs view: \"%s\"", buf);
    char path[64];
    snprintf(path, sizeof path, "%s/w", dir);
    CHECK(access(path, F_OK) == 0, "bind writes reach the host");
    unlink(path);
    rmdir(dir);
    sandbox_free(sb);

    /* A read-only rootfs: the host's / seen read-only. */
    sb = sandbox_new();
    CHECK_OK(sandbox_mount_ns(sb));
    CHECK_OK(sandbox_pid_ns(sb));
    CHECK_OK(sandbox_rootfs(sb, "/"));
    CHECK_OK(sandbox_proc(sb, "/proc"));
    CHECK_OK(sandbox_dev(sb, "/dev"));
    o = run_sh(sb, "touch /rsandbox-ctest 2>/dev/null || echo ro-root; ls /proc/1/exe >/dev/null && echo proc",
               buf, sizeof buf);
    CHECK(o.exited && o.exit_code == 0, "exit %d", o.exit_code);
    CHECK(strcmp(buf, "ro-root\nproc\n") == 0, "rootfs view: \"%s\"", buf);
    CHECK(access("/rsandbox-ctest", F_OK) != 0, "host / untouched");
    sandbox_free(sb);
}

static void seccomp(void) {
    char buf[512];
    /* An OCI profile denying uname(2) with an errno... */
    sandbox_t *sb = sandbox_new();
    CHECK_OK(sandbox_seccomp_oci_json(
        sb, "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"uname\"],"
            "\"action\":\"SCMP_ACT_ERRNO\"}]}"));
    sandbox_outcome_t o = run_sh(sb, "uname -n >/dev/null 2>&1 || echo denied", buf, sizeof buf);
    CHECK(o.exited && strcmp(buf, "denied\n") == 0, "errno profile: \"%s\"", buf);
    sandbox_free(sb);

    /* ...and one killing on it: reported as a seccomp violation. */
    sb = sandbox_new();
    CHECK_OK(sandbox_seccomp_oci_json(
        sb, "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"uname\"],"
            "\"action\":\"SCMP_ACT_KILL_PROCESS\"}]}"));
    const char *argv[] = {"/bin/uname", "-n"};
    CHECK_OK(sandbox_stdout(sb, SANDBOX_STDIO_NULL, -1));
    CHECK_OK(sandbox_status(sb, argv, 2, &o));
    CHECK(o.reason == SANDBOX_REASON_SECCOMP_VIOLATION && o.signal == SIGSYS, "reason %s signal %d",
          sandbox_reason_name((int)o.reason), o.signal);
    sandbox_free(sb);

    /* The default profile still runs ordinary programs. */
    sb = sandbox_new();
    CHECK_OK(sandbox_seccomp_default(sb));
    o = run_sh(sb, "echo fine", buf, sizeof buf);
    CHECK(o.exited && o.exit_code == 0 && strcmp(buf, "fine\n") == 0, "default: \"%s\"", buf);
    sandbox_free(sb);
}

static void privileges(void) {
    char buf[512];
    /* Capabilities: every one dropped, seen in /proc/self/status. */
    sandbox_t *sb = sandbox_new();
    CHECK_OK(sandbox_drop_caps(sb));
    CHECK_OK(sandbox_no_new_privs(sb, true));
    sandbox_outcome_t o = run_sh(sb, "grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status", buf,
                                 sizeof buf);
    CHECK(o.exited && o.exit_code == 0, "exit %d", o.exit_code);
    CHECK(strcmp(buf, "CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nNoNewPrivs:\t1\n") == 0,
          "caps: \"%s\"", buf);
    sandbox_free(sb);

    /* Landlock: read and execute everywhere, write nowhere. */
    char dir[] = "/tmp/sandbox-ctest-ll-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char script[256];
    snprintf(script, sizeof script, "echo x > %s/f && echo written || echo denied", dir);
    sb = sandbox_new();
    CHECK_OK(sandbox_landlock_exec(sb, "/"));
    o = run_sh(sb, script, buf, sizeof buf);
    CHECK(o.exited && strcmp(buf, "denied\n") == 0, "landlock: \"%s\"", buf);
    CHECK_OK(sandbox_landlock_write(sb, dir));
    o = run_sh(sb, script, buf, sizeof buf);
    CHECK(o.exited && strcmp(buf, "written\n") == 0, "landlock write rule: \"%s\"", buf);
    char path[64];
    snprintf(path, sizeof path, "%s/f", dir);
    unlink(path);
    rmdir(dir);
    sandbox_free(sb);
}

static void limits(void) {
    char buf[64];
    /* Memory: a shell holding 100 MB in a variable under a 16 MiB limit. */
    sandbox_t *sb = sandbox_new();
    CHECK_OK(sandbox_pid_ns(sb));
    CHECK_OK(sandbox_memory_limit(sb, 16 << 20));
    CHECK_OK(sandbox_timeout(sb, 20000));
    sandbox_outcome_t o = run_sh(sb, "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo ${#x}", buf,
                                 sizeof buf);
    CHECK(o.reason == SANDBOX_REASON_OUT_OF_MEMORY && o.oom_killed && !o.timed_out,
          "reason %s", sandbox_reason_name((int)o.reason));
    CHECK(o.oom_kills != SANDBOX_UNKNOWN && o.oom_kills >= 1, "oom kills %llu",
          (unsigned long long)o.oom_kills);
    CHECK(o.memory_peak_bytes != SANDBOX_UNKNOWN && o.memory_peak_bytes <= (16u << 20) + 65536,
          "peak %llu", (unsigned long long)o.memory_peak_bytes);
    sandbox_free(sb);

    /* Wall clock: sleep 30 under a 300 ms timeout. */
    sb = sandbox_new();
    CHECK_OK(sandbox_timeout(sb, 300));
    o = run_sh(sb, "sleep 30", buf, sizeof buf);
    CHECK(o.reason == SANDBOX_REASON_WALL_TIME_LIMIT && o.timed_out && !o.oom_killed,
          "reason %s", sandbox_reason_name((int)o.reason));
    CHECK(o.wall_time_ns >= 300000000ULL && o.wall_time_ns < 10000000000ULL, "wall %llu",
          (unsigned long long)o.wall_time_ns);
    sandbox_free(sb);

    /* Pids: fork fails beyond the limit. */
    sb = sandbox_new();
    CHECK_OK(sandbox_pids_limit(sb, 3));
    o = run_sh(sb, "for i in 1 2 3 4 5 6; do sleep 1 & done 2>/dev/null; wait; echo done", buf,
               sizeof buf);
    CHECK(o.pids_peak == SANDBOX_UNKNOWN || o.pids_peak <= 3, "pids peak %llu",
          (unsigned long long)o.pids_peak);
    sandbox_free(sb);

    /* CPU time: a busy loop under a 1 s CPU-time limit. */
    sb = sandbox_new();
    CHECK_OK(sandbox_cpu_time_limit(sb, 1000));
    CHECK_OK(sandbox_timeout(sb, 20000));
    o = run_sh(sb, "while :; do :; done", buf, sizeof buf);
    CHECK(o.reason == SANDBOX_REASON_CPU_TIME_LIMIT, "reason %s",
          sandbox_reason_name((int)o.reason));
    sandbox_free(sb);

    /* CPU bandwidth and rlimits are accepted and applied. */
    sb = sandbox_new();
    CHECK_OK(sandbox_cpu_limit(sb, 0.5));
    CHECK_OK(sandbox_rlimit_nofile(sb, 64));
    o = run_sh(sb, "ulimit -n", buf, sizeof buf);
    CHECK(o.exited && strcmp(buf, "64\n") == 0, "nofile: \"%s\"", buf);
    sandbox_free(sb);
}

/* Two boxes in one prepared network namespace see the same one, with lo
 * up; without root, creating it is a privilege error. */
static void shared_net(void) {
    sandbox_netns_t *ns = NULL;
    sandbox_result_t rc = sandbox_netns_new(&ns);
    if (geteuid() != 0) {
        CHECK(rc == SANDBOX_PRIVILEGE, "netns as non-root: %s", sandbox_result_name((int)rc));
        return;
    }
    CHECK_OK(rc);
    char want[64], buf[512];
    snprintf(want, sizeof want, "net:[%llu] lo\n", (unsigned long long)sandbox_netns_inode(ns));
    for (int i = 0; i < 2; i++) {
        sandbox_t *sb = sandbox_strict();
        CHECK_OK(sandbox_net_ns_shared(sb, ns));
        sandbox_outcome_t o = run_sh(
            sb, "echo $(readlink /proc/self/ns/net) $(tail -n +3 /proc/net/dev | cut -d: -f1)",
            buf, sizeof buf);
        CHECK(o.exited && o.exit_code == 0, "exit %d", o.exit_code);
        CHECK(strcmp(buf, want) == 0, "shared net: \"%s\", want \"%s\"", buf, want);
        sandbox_free(sb);
    }
    CHECK(sandbox_net_ns_shared(NULL, ns) == SANDBOX_NULL_PARAMETER, "NULL sb");
    sandbox_netns_free(ns);
    sandbox_netns_free(NULL);
}

/* The review's F1 and F3 through the C library: a cwd through a process fd
 * is refused, and PID 1 of a strict box is the exec'd init, which gives the
 * payload nothing of this program (its environment, memory or fds). */
static void escapes(void) {
    setenv("SECRET_TOKEN", "hunter2", 1);
    sandbox_t *sb = sandbox_strict();
    CHECK_OK(sandbox_cwd(sb, "/proc/self/fd/3"));
    char buf[1024];
    sandbox_result_t rc;
    run_sh_rc(sb, "cat ../proc/1/comm", buf, sizeof buf, &rc);
    CHECK(rc == SANDBOX_INVALID_CONFIG, "cwd /proc/self/fd/3: %s", sandbox_result_name((int)rc));
    CHECK_MSG("cwd");
    sandbox_free(sb);

    sb = sandbox_strict();
    sandbox_outcome_t o = run_sh(sb,
                                 "cat /proc/1/environ /proc/1/mem 2>/dev/null; "
                                 "readlink /proc/1/fd/* 2>/dev/null; "
                                 "echo comm=$(cat /proc/1/comm) $(grep Seccomp: /proc/1/status)",
                                 buf, sizeof buf);
    CHECK(o.exited && o.exit_code == 0, "exit %d", o.exit_code);
    CHECK(strstr(buf, "hunter2") == NULL, "the caller's secret leaked: \"%s\"", buf);
    CHECK(strstr(buf, "comm=rsandbox-init Seccomp: 2") != NULL, "pid 1: \"%s\"", buf);
    sandbox_free(sb);
    unsetenv("SECRET_TOKEN");
}

int main(void) {
    escapes();
    namespaces();
    shared_net();
    filesystem();
    seccomp();
    privileges();
    limits();
    return summary("test_isolation");
}
