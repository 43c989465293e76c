/* Spawn and wait, stdio wiring, captured output (whole and capped), waits
 * with a timeout, kill, the strict preset, and per-stage spawn timing. */
#define _GNU_SOURCE
#include "check.h"

#include <signal.h>
#include <stdlib.h>

static void spawn_and_wait(void) {
    sandbox_t *sb = sandbox_new();
    CHECK(sb != NULL, "sandbox_new");
    const char *argv[] = {"/bin/sh", "-c", "exit 7"};
    sandbox_child_t *child = NULL;
    CHECK_OK(sandbox_spawn(sb, argv, 3, &child));
    CHECK(child != NULL, "child written");
    CHECK(sandbox_child_pid(child) > 0, "pid");
    CHECK(sandbox_child_pidfd(child) >= 0, "pidfd");
    CHECK(sandbox_child_stdout_fd(child) == -1, "stdout not piped");
    sandbox_outcome_t o;
    CHECK_OK(sandbox_child_wait(child, &o));
    CHECK(o.reason == SANDBOX_REASON_EXITED, "reason %s", sandbox_reason_name((int)o.reason));
    CHECK(o.exited && o.exit_code == 7 && o.signal == 0 && o.code == 7, "exit %d", o.exit_code);
    CHECK(!o.timed_out && !o.oom_killed, "flags");
    CHECK(o.wall_time_ns > 0 && o.wall_time_ns < 10000000000ULL, "wall %llu",
          (unsigned long long)o.wall_time_ns);
    CHECK(o.max_rss_bytes > 0, "max rss");
    /* A second wait gives the same outcome. */
    sandbox_outcome_t again;
    CHECK_OK(sandbox_child_wait(child, &again));
    CHECK(again.exit_code == 7, "second wait");
    sandbox_child_free(child);

    /* sandbox_status: spawn + wait in one call; a signal death. */
    const char *kill_self[] = {"/bin/sh", "-c", "kill -TERM $$"};
    CHECK_OK(sandbox_status(sb, kill_self, 3, &o));
    CHECK(o.reason == SANDBOX_REASON_SIGNALED && !o.exited && o.signal == SIGTERM &&
              o.exit_code == -1 && o.code == 128 + SIGTERM,
          "signaled: reason %s signal %d", sandbox_reason_name((int)o.reason), o.signal);
    sandbox_free(sb);
}

static void pipes_and_fds(void) {
    sandbox_t *sb = sandbox_new();
    CHECK_OK(sandbox_stdin(sb, SANDBOX_STDIO_PIPE, -1));
    CHECK_OK(sandbox_stdout(sb, SANDBOX_STDIO_PIPE, -1));
    CHECK_OK(sandbox_stderr(sb, SANDBOX_STDIO_NULL, -1));
    CHECK_OK(sandbox_env(sb, "GREETING", "hello"));
    CHECK_OK(sandbox_cwd(sb, "/tmp"));
    const char *argv[] = {"/bin/sh", "-c", "read x; echo \"$GREETING $x $(pwd)\""};
    sandbox_child_t *child = NULL;
    CHECK_OK(sandbox_spawn(sb, argv, 3, &child));
    int in = sandbox_child_take_stdin_fd(child);
    CHECK(in >= 0, "stdin pipe");
    CHECK(sandbox_child_stdin_fd(child) == -1, "stdin taken");
    CHECK(write(in, "world\n", 6) == 6, "write stdin");
    close(in);
    char buf[256];
    read_all(sandbox_child_stdout_fd(child), buf, sizeof buf);
    CHECK(strcmp(buf, "hello world /tmp\n") == 0, "got \"%s\"", buf);
    sandbox_outcome_t o;
    CHECK_OK(sandbox_child_wait(child, &o));
    CHECK(o.exited && o.exit_code == 0, "exit %d", o.exit_code);
    sandbox_child_free(child);
    sandbox_free(sb);

    /* SANDBOX_STDIO_FD: the payload writes into a pipe of ours. */
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    sb = sandbox_new();
    CHECK_OK(sandbox_stdout(sb, SANDBOX_STDIO_FD, p[1]));
    const char *echo[] = {"echo", "via fd"}; /* looked up in PATH */
    CHECK_OK(sandbox_status(sb, echo, 2, &o));
    close(p[1]);
    read_all(p[0], buf, sizeof buf);
    close(p[0]);
    CHECK(strcmp(buf, "via fd\n") == 0, "got \"%s\"", buf);
    sandbox_free(sb);
}

static void files_and_json(void) {
    char dir[] = "/tmp/sandbox-ctest-io-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char in[64], out[64];
    snprintf(in, sizeof in, "%s/in", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    FILE *f = fopen(in, "w");
    CHECK(f != NULL, "fopen");
    if (f) {
        fputs("from a file\n", f);
        fclose(f);
    }
    sandbox_t *sb = sandbox_new();
    CHECK_OK(sandbox_stdin_file(sb, in));
    CHECK_OK(sandbox_stdout_file(sb, out, false));
    const char *argv[] = {"/bin/cat"};
    sandbox_child_t *child = NULL;
    CHECK_OK(sandbox_spawn(sb, argv, 1, &child));
    char *json = NULL;
    sandbox_outcome_t o;
    CHECK_OK(sandbox_child_wait(child, &o));
    CHECK_OK(sandbox_child_outcome_json(child, &json));
    CHECK(json != NULL && strstr(json, "\"reason\":\"exited\"") != NULL, "outcome json %s",
          json ? json : "(null)");
    sandbox_string_free(json);
    sandbox_child_free(child);
    char buf[64] = "";
    f = fopen(out, "r");
    CHECK(f != NULL, "output file");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    CHECK(strcmp(buf, "from a file\n") == 0, "file stdio: \"%s\"", buf);
    unlink(in);
    unlink(out);
    rmdir(dir);
    sandbox_free(sb);

    json = NULL;
    CHECK_OK(sandbox_features(&json));
    CHECK(json != NULL && json[0] == '{', "features json");
    sandbox_string_free(json);
}

static void captured_output(void) {
    sandbox_t *sb = sandbox_new();
    const char *argv[] = {"/bin/sh", "-c", "echo out; echo err >&2; exit 3"};
    sandbox_output_t *out = NULL;
    CHECK_OK(sandbox_output(sb, argv, 3, &out));
    const uint8_t *data = NULL;
    size_t len = 0;
    CHECK_OK(sandbox_output_stdout(out, &data, &len));
    CHECK(len == 4 && memcmp(data, "out\n", 4) == 0, "stdout %zu bytes", len);
    CHECK_OK(sandbox_output_stderr(out, &data, &len));
    CHECK(len == 4 && memcmp(data, "err\n", 4) == 0, "stderr %zu bytes", len);
    sandbox_outcome_t o;
    CHECK_OK(sandbox_output_outcome(out, &o));
    CHECK(o.exited && o.exit_code == 3, "exit %d", o.exit_code);
    sandbox_output_free(out);
    sandbox_free(sb);
}

/* At most `cap` bytes of each stream kept; the totals say how much came. */
static void capped_output(void) {
    sandbox_t *sb = sandbox_new();
    CHECK_OK(sandbox_pid_ns(sb));
    CHECK_OK(sandbox_user_ns(sb));
    const char *argv[] = {"/bin/sh", "-c", "head -c 1000000 /dev/zero; printf small >&2"};
    sandbox_output_t *out = NULL;
    CHECK_OK(sandbox_output_capped(sb, argv, 3, 1000, &out));
    if (out != NULL) {
        const uint8_t *data = NULL;
        size_t len = 0;
        uint64_t out_total = 0, err_total = 0;
        CHECK_OK(sandbox_output_stdout(out, &data, &len));
        CHECK(len == 1000, "stdout kept %zu", len);
        CHECK_OK(sandbox_output_stderr(out, &data, &len));
        CHECK(len == 5 && memcmp(data, "small", 5) == 0, "stderr kept %zu", len);
        CHECK_OK(sandbox_output_totals(out, &out_total, &err_total));
        CHECK(out_total == 1000000 && err_total == 5, "totals %llu %llu",
              (unsigned long long)out_total, (unsigned long long)err_total);
        sandbox_outcome_t o;
        CHECK_OK(sandbox_output_outcome(out, &o));
        CHECK(o.exited && o.exit_code == 0, "exit %d", o.exit_code);
        CHECK_RC(sandbox_output_totals(out, NULL, &err_total), SANDBOX_NULL_PARAMETER);
        sandbox_output_free(out);
    }
    /* An uncapped output's totals are its lengths. */
    const char *echo[] = {"/bin/echo", "hi"};
    CHECK_OK(sandbox_output(sb, echo, 2, &out));
    if (out != NULL) {
        uint64_t out_total = 0, err_total = 1;
        CHECK_OK(sandbox_output_totals(out, &out_total, &err_total));
        CHECK(out_total == 3 && err_total == 0, "totals %llu %llu",
              (unsigned long long)out_total, (unsigned long long)err_total);
        sandbox_output_free(out);
    }
    sandbox_free(sb);
}

/* With timing on, the child says how long each stage of its spawn took. */
static void spawn_timing(void) {
    const char *argv[] = {"/bin/true"};
    for (int on = 0; on < 2; on++) {
        sandbox_t *sb = sandbox_new();
        CHECK_OK(sandbox_user_ns(sb));
        CHECK_OK(sandbox_mount_ns(sb));
        CHECK_OK(sandbox_record_timing(sb, on));
        sandbox_child_t *child = NULL;
        CHECK_OK(sandbox_spawn(sb, argv, 1, &child));
        char *json = (char *)0x1;
        CHECK_OK(sandbox_child_spawn_timing_json(child, &json));
        if (!on) {
            CHECK(json == NULL, "timing off: %s", json ? json : "");
        } else {
            CHECK(json != NULL && strstr(json, "\"total_ns\":") != NULL &&
                      strstr(json, "\"stage\":\"mounts\"") != NULL &&
                      strstr(json, "\"stage\":\"exec\"}]") != NULL,
                  "timing: %s", json ? json : "(null)");
            sandbox_string_free(json);
        }
        sandbox_outcome_t o;
        CHECK_OK(sandbox_child_wait(child, &o));
        sandbox_child_free(child);
        sandbox_free(sb);
    }
    CHECK_RC(sandbox_child_spawn_timing_json(NULL, NULL), SANDBOX_NULL_PARAMETER);
}

static void wait_timeout_and_kill(void) {
    sandbox_t *sb = sandbox_new();
    const char *argv[] = {"/bin/sleep", "30"};
    sandbox_child_t *child = NULL;
    CHECK_OK(sandbox_spawn(sb, argv, 2, &child));
    sandbox_outcome_t o;
    memset(&o, 0xAB, sizeof o);
    CHECK_RC(sandbox_child_wait_timeout(child, 100, &o), SANDBOX_STILL_RUNNING);
    CHECK_RC(sandbox_child_try_wait(child, &o), SANDBOX_STILL_RUNNING);
    CHECK(((unsigned char *)&o)[0] == 0xAB, "outcome untouched while running");
    CHECK_OK(sandbox_child_kill(child));
    CHECK_OK(sandbox_child_wait_timeout(child, 5000, &o));
    CHECK(o.reason == SANDBOX_REASON_KILLED && o.signal == SIGKILL, "reason %s",
          sandbox_reason_name((int)o.reason));
    CHECK_OK(sandbox_child_kill(child)); /* idempotent once reaped */
    sandbox_child_free(child);

    /* Freeing an unwaited child kills and reaps it. */
    CHECK_OK(sandbox_spawn(sb, argv, 2, &child));
    sandbox_child_free(child);
    sandbox_free(sb);
}

static void strict_preset(void) {
    sandbox_t *sb = sandbox_strict();
    CHECK(sb != NULL, "sandbox_strict");
    CHECK_OK(sandbox_stdout(sb, SANDBOX_STDIO_PIPE, -1));
    const char *argv[] = {"/bin/sh", "-c", "echo $PPID; cat /proc/net/dev | wc -l"};
    sandbox_output_t *out = NULL;
    CHECK_OK(sandbox_output(sb, argv, 3, &out));
    if (out != NULL) {
        const uint8_t *data = NULL;
        size_t len = 0;
        CHECK_OK(sandbox_output_stdout(out, &data, &len));
        /* PID 1 is the box's init; only lo in the network namespace. */
        CHECK(len == 4 && memcmp(data, "1\n3\n", 4) == 0, "strict view: \"%.*s\"", (int)len,
              (const char *)data);
        sandbox_outcome_t o;
        CHECK_OK(sandbox_output_outcome(out, &o));
        CHECK(o.exited && o.exit_code == 0, "exit %d", o.exit_code);
        sandbox_output_free(out);
    }
    char *report = NULL;
    CHECK_OK(sandbox_enforcement_report(sb, &report));
    CHECK(report != NULL && strstr(report, "seccomp") != NULL, "report names seccomp");
    sandbox_string_free(report);
    sandbox_free(sb);
}

static void json_round_trip(void) {
    sandbox_t *sb = sandbox_new();
    CHECK_OK(sandbox_pid_ns(sb));
    CHECK_OK(sandbox_memory_limit(sb, 1 << 26));
    char *json = NULL;
    CHECK_OK(sandbox_to_json(sb, &json));
    sandbox_t *copy = NULL;
    CHECK_OK(sandbox_from_json(json, &copy));
    char *json2 = NULL;
    CHECK_OK(sandbox_to_json(copy, &json2));
    CHECK(json && json2 && strcmp(json, json2) == 0, "round trip");
    sandbox_t *cl = sandbox_clone(copy);
    CHECK(cl != NULL, "clone");
    sandbox_string_free(json);
    sandbox_string_free(json2);
    sandbox_free(copy);
    sandbox_free(cl);
    sandbox_free(sb);
}

int main(void) {
    spawn_and_wait();
    pipes_and_fds();
    files_and_json();
    captured_output();
    capped_output();
    spawn_timing();
    wait_timeout_and_kill();
    strict_preset();
    json_round_trip();
    return summary("test_spawn");
}
