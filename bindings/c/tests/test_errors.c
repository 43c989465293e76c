/* Error paths: NULL pointers, empty argv, bad limits, a missing program,
 * invalid UTF-8, unknown constants. Each returns the right code and message,
 * leaves out-parameters untouched, and never crashes. */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <sys/resource.h>

#define SENTINEL ((sandbox_child_t *)0x1)

static void null_pointers(void) {
    CHECK_RC(sandbox_pid_ns(NULL), SANDBOX_NULL_PARAMETER);
    CHECK_MSG("sb is NULL");
    CHECK_RC(sandbox_memory_limit(NULL, 1), SANDBOX_NULL_PARAMETER);
    CHECK_RC(sandbox_validate(NULL), SANDBOX_NULL_PARAMETER);

    sandbox_t *sb = sandbox_new();
    CHECK_RC(sandbox_hostname(sb, NULL), SANDBOX_NULL_PARAMETER);
    CHECK_MSG("name is NULL");
    CHECK_RC(sandbox_env(sb, "K", NULL), SANDBOX_NULL_PARAMETER);
    CHECK_MSG("value is NULL");
    CHECK_RC(sandbox_bind(sb, "/tmp", NULL), SANDBOX_NULL_PARAMETER);
    CHECK_MSG("dst is NULL");
    CHECK_RC(sandbox_file(sb, "/f", NULL, 3), SANDBOX_NULL_PARAMETER);
    CHECK_OK(sandbox_file(sb, "/f", NULL, 0)); /* empty data may be NULL */
    CHECK_RC(sandbox_seccomp_oci_json(sb, NULL), SANDBOX_NULL_PARAMETER);
    CHECK_RC(sandbox_keep_caps(sb, NULL, 1), SANDBOX_NULL_PARAMETER);

    const char *argv[] = {"/bin/true", NULL};
    sandbox_child_t *child = SENTINEL;
    CHECK_RC(sandbox_spawn(NULL, argv, 1, &child), SANDBOX_NULL_PARAMETER);
    CHECK_RC(sandbox_spawn(sb, NULL, 1, &child), SANDBOX_NULL_PARAMETER);
    CHECK_MSG("argv is NULL");
    CHECK_RC(sandbox_spawn(sb, argv, 2, &child), SANDBOX_NULL_PARAMETER);
    CHECK_MSG("argv[1] is NULL");
    CHECK_RC(sandbox_spawn(sb, argv, 1, NULL), SANDBOX_NULL_PARAMETER);
    CHECK_MSG("child_out is NULL");
    CHECK(child == SENTINEL, "child_out untouched on failure");

    sandbox_outcome_t o;
    CHECK_RC(sandbox_status(sb, argv, 1, NULL), SANDBOX_NULL_PARAMETER);
    CHECK_RC(sandbox_child_wait(NULL, &o), SANDBOX_NULL_PARAMETER);
    CHECK_RC(sandbox_child_wait_timeout(NULL, 1, &o), SANDBOX_NULL_PARAMETER);
    CHECK_RC(sandbox_child_try_wait(NULL, &o), SANDBOX_NULL_PARAMETER);
    CHECK_RC(sandbox_child_kill(NULL), SANDBOX_NULL_PARAMETER);
    CHECK_RC(sandbox_child_signal(NULL, 15), SANDBOX_NULL_PARAMETER);
    CHECK(sandbox_child_pid(NULL) == -1, "pid of NULL");
    CHECK(sandbox_child_pidfd(NULL) == -1, "pidfd of NULL");
    CHECK(sandbox_child_stdout_fd(NULL) == -1, "stdout of NULL");
    CHECK(sandbox_child_take_stderr_fd(NULL) == -1, "take stderr of NULL");
    CHECK(sandbox_clone(NULL) == NULL, "clone of NULL");
    CHECK_RC(sandbox_output_outcome(NULL, &o), SANDBOX_NULL_PARAMETER);
    CHECK_RC(sandbox_output_stdout(NULL, NULL, NULL), SANDBOX_NULL_PARAMETER);
    CHECK_RC(sandbox_to_json(sb, NULL), SANDBOX_NULL_PARAMETER);
    CHECK_RC(sandbox_from_json(NULL, NULL), SANDBOX_NULL_PARAMETER);

    /* The wait functions check the outcome pointer before waiting. */
    sandbox_t *plain = sandbox_new();
    child = NULL;
    CHECK_OK(sandbox_spawn(plain, argv, 1, &child));
    if (child != NULL) {
        CHECK_RC(sandbox_child_wait(child, NULL), SANDBOX_NULL_PARAMETER);
        CHECK_MSG("outcome_out is NULL");
        CHECK_OK(sandbox_child_wait(child, &o));
        sandbox_child_free(child);
    }
    sandbox_free(plain);

    /* Freeing NULL is a no-op. */
    sandbox_free(NULL);
    sandbox_child_free(NULL);
    sandbox_output_free(NULL);
    sandbox_string_free(NULL);
    sandbox_free(sb);
}

static void bad_arguments(void) {
    sandbox_t *sb = sandbox_new();
    const char *none[] = {NULL};
    sandbox_child_t *child = SENTINEL;
    CHECK_RC(sandbox_spawn(sb, none, 0, &child), SANDBOX_INVALID_CONFIG);
    CHECK_MSG("program");
    CHECK(child == SENTINEL, "child_out untouched");

    CHECK_RC(sandbox_hostname(sb, "\xff\xfe"), SANDBOX_INVALID_UTF8);
    CHECK_MSG("name is not valid UTF-8");
    const char *caps[] = {"CAP_CHOWN", "\xc3\x28"};
    CHECK_RC(sandbox_keep_caps(sb, caps, 2), SANDBOX_INVALID_UTF8);
    CHECK_MSG("caps[1]");
    CHECK_RC(sandbox_stdout(sb, 42, -1), SANDBOX_INVALID_ARGUMENT);
    CHECK_MSG("unknown value 42");
    CHECK_RC(sandbox_stdout(sb, SANDBOX_STDIO_FD, -5), SANDBOX_INVALID_ARGUMENT);
    CHECK_RC(sandbox_rlimit(sb, 999, 1, 1), SANDBOX_INVALID_ARGUMENT);
    CHECK_MSG("unknown rlimit 999");
    CHECK_OK(sandbox_rlimit(sb, RLIMIT_NOFILE, 32, 32));
    sandbox_free(sb);

    /* Bad limits are refused by the core, at validation or spawn. */
    sb = sandbox_new();
    CHECK_OK(sandbox_memory_limit(sb, 0));
    CHECK_RC(sandbox_validate(sb), SANDBOX_INVALID_CONFIG);
    CHECK_MSG("memory");
    const char *argv[] = {"/bin/true"};
    CHECK_RC(sandbox_spawn(sb, argv, 1, &child), SANDBOX_INVALID_CONFIG);
    CHECK_MSG("memory");
    CHECK(child == SENTINEL, "child_out untouched");
    sandbox_free(sb);

    sb = sandbox_new();
    CHECK_OK(sandbox_tmpfs(sb, "/tmp", 0));
    CHECK_RC(sandbox_validate(sb), SANDBOX_INVALID_CONFIG);
    sandbox_free(sb);

    sb = sandbox_new();
    CHECK_OK(sandbox_seccomp_oci_json(sb, "{not json"));
    CHECK_RC(sandbox_validate(sb), SANDBOX_INVALID_CONFIG);
    sandbox_free(sb);

    sandbox_t *from = (sandbox_t *)0x1;
    CHECK_RC(sandbox_from_json("{\"no_such_field\": 1}", &from), SANDBOX_INVALID_CONFIG);
    CHECK(from == (sandbox_t *)0x1, "sb_out untouched");
}

static void missing_program(void) {
    sandbox_t *sb = sandbox_new();
    const char *argv[] = {"/nonexistent/program", "x"};
    sandbox_child_t *child = SENTINEL;
    CHECK_RC(sandbox_spawn(sb, argv, 2, &child), SANDBOX_PROGRAM_NOT_FOUND);
    CHECK_MSG("/nonexistent/program");
    CHECK(sandbox_last_error_errno() == ENOENT, "errno %d", sandbox_last_error_errno());
    CHECK(child == SENTINEL, "child_out untouched");
    const char *by_name[] = {"no-such-program-anywhere"};
    CHECK_RC(sandbox_spawn(sb, by_name, 1, &child), SANDBOX_PROGRAM_NOT_FOUND);
    sandbox_free(sb);
}

static void names(void) {
    CHECK(strcmp(sandbox_result_name(SANDBOX_OK), "SANDBOX_OK") == 0, "ok name");
    CHECK(strcmp(sandbox_result_name(SANDBOX_PANIC), "SANDBOX_PANIC") == 0, "panic name");
    CHECK(strcmp(sandbox_result_name(-3), "unknown result") == 0, "unknown result");
    CHECK(strcmp(sandbox_reason_name(SANDBOX_REASON_OUT_OF_MEMORY), "out_of_memory") == 0, "oom");
    CHECK(strcmp(sandbox_reason_name(12345), "unknown") == 0, "unknown reason");
    CHECK(strlen(sandbox_version()) > 0, "version");
}

int main(void) {
    null_pointers();
    bad_arguments();
    missing_program();
    names();
    return summary("test_errors");
}
