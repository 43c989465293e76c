/*
 * judge: run a command in a sandbox under memory and time limits, then say
 * why it ended and what it used.
 *
 *   judge [-m MEMORY_MB] [-t TIME_MS] [-p PIDS] [-M] [-S] -- PROGRAM [ARGS...]
 *
 * The box: new PID, mount (unless -M), UTS, IPC and network namespaces, every
 * capability dropped, the default seccomp profile, a memory limit, a pids
 * limit and a wall-clock timeout. Exits 0 when the program exited 0, 1 when
 * it failed or hit a limit, 2 when the sandbox could not be set up.
 *
 * -M leaves out the mount namespace and -S the seccomp filter: tools that
 * intercept syscalls (valgrind 3.19) know neither openat2 nor how to run
 * the child's setup under a filter.
 *
 * Build: cc judge.c $(pkg-config --cflags --libs sandbox) -o judge
 */
#include <sandbox.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, sandbox_result_t r) {
    fprintf(stderr, "judge: %s: %s: %s\n", what, sandbox_result_name((int)r),
            sandbox_last_error_message());
    return 2;
}

static void usage(void) {
    fprintf(stderr, "usage: judge [-m MEMORY_MB] [-t TIME_MS] [-p PIDS] [-M] [-S] -- PROGRAM [ARGS...]\n");
}

int main(int argc, char **argv) {
    unsigned long long memory_mb = 64, time_ms = 2000, pids = 64;
    int mount_ns = 1;
    int seccomp = 1;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "-M") == 0) {
            mount_ns = 0;
            continue;
        }
        if (strcmp(argv[i], "-S") == 0) {
            seccomp = 0;
            continue;
        }
        if (i + 1 >= argc) {
            usage();
            return 2;
        }
        unsigned long long v = strtoull(argv[i + 1], NULL, 10);
        if (strcmp(argv[i], "-m") == 0) memory_mb = v;
        else if (strcmp(argv[i], "-t") == 0) time_ms = v;
        else if (strcmp(argv[i], "-p") == 0) pids = v;
        else {
            usage();
            return 2;
        }
        i++;
    }
    if (i >= argc) {
        usage();
        return 2;
    }

    sandbox_t *sb = sandbox_new();
    if (sb == NULL) return fail("sandbox_new", SANDBOX_PANIC);
    sandbox_result_t r;
    /* Each setter only records; errors in the description surface at spawn. */
    if ((r = sandbox_pid_ns(sb)) != SANDBOX_OK ||
        (mount_ns && (r = sandbox_mount_ns(sb)) != SANDBOX_OK) ||
        (r = sandbox_uts_ns(sb)) != SANDBOX_OK ||
        (r = sandbox_ipc_ns(sb)) != SANDBOX_OK ||
        (r = sandbox_net_ns(sb)) != SANDBOX_OK ||
        (r = sandbox_hostname(sb, "judge")) != SANDBOX_OK ||
        (r = sandbox_drop_caps(sb)) != SANDBOX_OK ||
        (seccomp && (r = sandbox_seccomp_default(sb)) != SANDBOX_OK) ||
        (r = sandbox_memory_limit(sb, memory_mb * 1024 * 1024)) != SANDBOX_OK ||
        (r = sandbox_pids_limit(sb, pids)) != SANDBOX_OK ||
        (r = sandbox_timeout(sb, time_ms)) != SANDBOX_OK ||
        (r = sandbox_stdin(sb, SANDBOX_STDIO_NULL, -1)) != SANDBOX_OK) {
        sandbox_free(sb);
        return fail("configure", r);
    }

    sandbox_child_t *child = NULL;
    r = sandbox_spawn(sb, (const char *const *)&argv[i], (size_t)(argc - i), &child);
    sandbox_free(sb); /* the child does not need the description any more */
    if (r != SANDBOX_OK) return fail("spawn", r);

    sandbox_outcome_t o;
    r = sandbox_child_wait(child, &o);
    sandbox_child_free(child);
    if (r != SANDBOX_OK) return fail("wait", r);

    printf("verdict:     %s\n", sandbox_reason_name((int)o.reason));
    if (o.exited)
        printf("exit code:   %d\n", o.exit_code);
    else
        printf("signal:      %d\n", o.signal);
    printf("timed out:   %s\n", o.timed_out ? "yes" : "no");
    printf("oom killed:  %s\n", o.oom_killed ? "yes" : "no");
    printf("wall time:   %.3f s\n", (double)o.wall_time_ns / 1e9);
    printf("cpu time:    %.3f s user, %.3f s system\n", (double)o.user_time_ns / 1e9,
           (double)o.system_time_ns / 1e9);
    printf("max rss:     %llu KiB\n", (unsigned long long)(o.max_rss_bytes / 1024));
    if (o.memory_peak_bytes != SANDBOX_UNKNOWN)
        printf("peak memory: %llu KiB\n", (unsigned long long)(o.memory_peak_bytes / 1024));
    return o.reason == SANDBOX_REASON_EXITED && o.exit_code == 0 ? 0 : 1;
}
