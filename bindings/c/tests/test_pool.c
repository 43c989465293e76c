/* The warm pool in C (sandbox_pool_*): a pooled payload sees the box from
 * inside (its own pid namespace with rsandbox's init as pid 1, hostname,
 * private /tmp) and its exit status comes back on the usual child; more
 * spawns than boxes never block; bad input is refused with a typed error
 * before any box is made. Rootless (a user namespace): root and nobody. */
#define _GNU_SOURCE
#include "check.h"

#include <stdlib.h>

/* Every namespace a pooled box is tested for, stdout piped. */
static sandbox_t *described(void) {
    sandbox_t *sb = sandbox_new();
    CHECK_OK(sandbox_user_ns(sb));
    CHECK_OK(sandbox_pid_ns(sb));
    CHECK_OK(sandbox_mount_ns(sb));
    CHECK_OK(sandbox_uts_ns(sb));
    CHECK_OK(sandbox_hostname(sb, "pooled"));
    CHECK_OK(sandbox_stdout(sb, SANDBOX_STDIO_PIPE, -1));
    return sb;
}

static void inside_a_pooled_box(void) {
    sandbox_t *sb = described();
    sandbox_pool_t *pool = NULL;
    CHECK_OK(sandbox_pool_new(sb, 2, &pool));
    sandbox_free(sb); /* the pool keeps its own copy */
    if (!pool) return;
    CHECK(sandbox_pool_capacity(pool) == 2, "capacity %zu", sandbox_pool_capacity(pool));
    const char *argv[] = {"/bin/sh", "-c",
                          "echo pid=$$ ppid=$PPID; cat /proc/1/comm; "
                          "cat /proc/sys/kernel/hostname; exit 5"};
    for (int round = 0; round < 3; round++) {
        sandbox_child_t *child = NULL;
        CHECK_OK(sandbox_pool_spawn(pool, argv, 3, &child));
        if (!child) continue;
        char buf[256];
        read_all(sandbox_child_stdout_fd(child), buf, sizeof buf);
        CHECK(strcmp(buf, "pid=2 ppid=1\nrsandbox-init\npooled\n") == 0,
              "round %d saw \"%s\"", round, buf);
        sandbox_outcome_t o;
        CHECK_OK(sandbox_child_wait(child, &o));
        CHECK(o.reason == SANDBOX_REASON_EXITED && o.exit_code == 5, "round %d: %s %d",
              round, sandbox_reason_name((int)o.reason), o.exit_code);
        char *json = NULL;
        CHECK_OK(sandbox_child_outcome_json(child, &json));
        CHECK(json && strstr(json, "warm pool of 2"), "report lacks the pool layer: %s",
              json ? json : "(null)");
        sandbox_string_free(json);
        sandbox_child_free(child);
    }
    sandbox_pool_free(pool);
}

/* More spawns than boxes, back to back: each status is its own. */
static void never_blocks(void) {
    sandbox_t *sb = described();
    CHECK_OK(sandbox_stdout(sb, SANDBOX_STDIO_NULL, -1));
    sandbox_pool_t *pool = NULL;
    CHECK_OK(sandbox_pool_new(sb, 1, &pool));
    sandbox_free(sb);
    if (!pool) return;
    enum { N = 5 };
    sandbox_child_t *kids[N] = {0};
    for (int i = 0; i < N; i++) {
        char script[32];
        snprintf(script, sizeof script, "exit %d", 10 + i);
        const char *argv[] = {"/bin/sh", "-c", script};
        CHECK_OK(sandbox_pool_spawn(pool, argv, 3, &kids[i]));
    }
    for (int i = 0; i < N; i++) {
        if (!kids[i]) continue;
        sandbox_outcome_t o;
        CHECK_OK(sandbox_child_wait(kids[i], &o));
        CHECK(o.exited && o.exit_code == 10 + i, "child %d exit %d", i, o.exit_code);
        sandbox_child_free(kids[i]);
    }
    sandbox_pool_free(pool);
}

static void bad_input(void) {
    sandbox_t *sb = described();
    sandbox_pool_t *pool = NULL;
    CHECK_RC(sandbox_pool_new(sb, 0, &pool), SANDBOX_INVALID_CONFIG);
    CHECK_MSG("pool size");
    CHECK(pool == NULL, "out-parameter written on failure");
    CHECK_RC(sandbox_pool_new(sb, 5000, &pool), SANDBOX_INVALID_CONFIG);
    CHECK_RC(sandbox_pool_new(NULL, 1, &pool), SANDBOX_NULL_PARAMETER);
    CHECK_RC(sandbox_pool_new(sb, 1, NULL), SANDBOX_NULL_PARAMETER);

    /* No PID namespace: refused, nothing made. */
    sandbox_t *flat = sandbox_new();
    CHECK_RC(sandbox_pool_new(flat, 1, &pool), SANDBOX_INVALID_CONFIG);
    CHECK_MSG("PID namespace");
    sandbox_free(flat);

    pool = NULL;
    CHECK_OK(sandbox_pool_new(sb, 1, &pool));
    if (pool) {
        const char *missing[] = {"/no/such/program"};
        sandbox_child_t *child = NULL;
        CHECK_RC(sandbox_pool_spawn(pool, missing, 1, &child), SANDBOX_PROGRAM_NOT_FOUND);
        CHECK(child == NULL, "child written on failure");
        CHECK_RC(sandbox_pool_spawn(pool, NULL, 0, &child), SANDBOX_NULL_PARAMETER);
        CHECK_RC(sandbox_pool_spawn(NULL, missing, 1, &child), SANDBOX_NULL_PARAMETER);
        sandbox_pool_free(pool);
    }
    CHECK(sandbox_pool_ready(NULL) == 0 && sandbox_pool_capacity(NULL) == 0, "NULL pool");
    sandbox_pool_free(NULL);
    sandbox_free(sb);
}

int main(void) {
    inside_a_pooled_box();
    never_blocks();
    bad_input();
    return summary("test_pool");
}
