/* A minimal test harness for the C tests: CHECK records a failure and goes
 * on; each test file ends with a "N passed, N failed" line. */
#ifndef SANDBOX_TEST_CHECK_H
#define SANDBOX_TEST_CHECK_H

#include <sandbox.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int checks_passed, checks_failed;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (cond) {                                                             \
            checks_passed++;                                                    \
        } else {                                                                \
            checks_failed++;                                                    \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                       \
            fprintf(stderr, " [last error: %s]\n", sandbox_last_error_message()); \
        }                                                                       \
    } while (0)

/* Check a call returned `want`. */
#define CHECK_RC(call, want)                                                    \
    do {                                                                        \
        sandbox_result_t rc_ = (call);                                          \
        CHECK(rc_ == (want), "%s returned %s, want %s", #call,                  \
              sandbox_result_name((int)rc_), sandbox_result_name((int)(want))); \
    } while (0)

#define CHECK_OK(call) CHECK_RC(call, SANDBOX_OK)

/* The last error message contains `needle`. */
#define CHECK_MSG(needle)                                                       \
    CHECK(strstr(sandbox_last_error_message(), (needle)) != NULL,              \
          "message lacks \"%s\"", (needle))

static inline int summary(const char *name) {
    printf("%s: %d passed, %d failed\n", name, checks_passed, checks_failed);
    return checks_failed == 0 ? 0 : 1;
}

/* Read `fd` to EOF into buf (NUL-terminated, truncated to cap - 1). */
static inline size_t read_all(int fd, char *buf, size_t cap) {
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
        if (n == cap - 1) break;
    }
    buf[n] = '\0';
    return n;
}

/* Run `script` with /bin/sh in `sb`, stdout captured (sandbox_output reads
 * the pipes while enforcing the timeout); return the outcome (reason OTHER
 * if the spawn failed: `rc_out` says why) and put stdout in buf. The caller
 * keeps and frees sb. */
static inline sandbox_outcome_t run_sh_rc(sandbox_t *sb, const char *script, char *buf, size_t cap,
                                          sandbox_result_t *rc_out) {
    sandbox_outcome_t o;
    memset(&o, 0, sizeof o);
    o.reason = SANDBOX_REASON_OTHER;
    buf[0] = '\0';
    const char *argv[] = {"/bin/sh", "-c", script};
    sandbox_output_t *out = NULL;
    *rc_out = sandbox_output(sb, argv, 3, &out);
    if (*rc_out != SANDBOX_OK) return o;
    const uint8_t *data = NULL;
    size_t len = 0;
    CHECK_OK(sandbox_output_stdout(out, &data, &len));
    if (len > cap - 1) len = cap - 1;
    memcpy(buf, data, len);
    buf[len] = '\0';
    CHECK_OK(sandbox_output_outcome(out, &o));
    sandbox_output_free(out);
    return o;
}

/* run_sh_rc, and a failed spawn is a failed check. */
static inline sandbox_outcome_t run_sh(sandbox_t *sb, const char *script, char *buf, size_t cap) {
    sandbox_result_t rc;
    sandbox_outcome_t o = run_sh_rc(sb, script, buf, cap, &rc);
    CHECK(rc == SANDBOX_OK, "run of \"%s\": %s", script, sandbox_result_name((int)rc));
    return o;
}

#endif
