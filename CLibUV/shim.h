// The only C in Titan: small static-inline helpers so Swift never rebinds memory,
// never ORs C flag enums, and never calls variadic or macro-only APIs.
#ifndef TITAN_CLIBUV_SHIM_H
#define TITAN_CLIBUV_SHIM_H


#include <uv.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <pthread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

// MARK: handle upcasts (uv_tcp_t, uv_timer_t, ... all start with the uv_handle_t fields)

static inline uv_handle_t *titan_tcp_handle(uv_tcp_t *h) { return (uv_handle_t *)h; }
static inline uv_stream_t *titan_tcp_stream(uv_tcp_t *h) { return (uv_stream_t *)h; }
static inline uv_handle_t *titan_pipe_handle(uv_pipe_t *h) { return (uv_handle_t *)h; }
static inline uv_stream_t *titan_pipe_stream(uv_pipe_t *h) { return (uv_stream_t *)h; }
static inline uv_handle_t *titan_timer_handle(uv_timer_t *h) { return (uv_handle_t *)h; }
static inline uv_handle_t *titan_async_handle(uv_async_t *h) { return (uv_handle_t *)h; }
static inline uv_handle_t *titan_prepare_handle(uv_prepare_t *h) { return (uv_handle_t *)h; }
static inline uv_handle_t *titan_signal_handle(uv_signal_t *h) { return (uv_handle_t *)h; }
static inline uv_handle_t *titan_poll_handle(uv_poll_t *h) { return (uv_handle_t *)h; }
static inline uv_handle_t *titan_stream_handle(uv_stream_t *h) { return (uv_handle_t *)h; }
static inline uv_req_t *titan_connect_req(uv_connect_t *r) { return (uv_req_t *)r; }
static inline uv_req_t *titan_write_req(uv_write_t *r) { return (uv_req_t *)r; }

// MARK: sockets

/// Binds `tcp` to an IPv4 or IPv6 literal address. Returns a libuv error code.
static inline int titan_tcp_bind(uv_tcp_t *tcp, const char *host, int port) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0) {
        int rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
        if (rc != 0) return rc;
    }
    return uv_tcp_bind(tcp, (const struct sockaddr *)&ss, 0);
}

/// True when nothing listens on TCP `port` (all addresses): binds a throwaway socket and closes
/// it. Used to pick a free port for a service.
static inline int titan_tcp_port_is_free(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    int ok = bind(fd, (const struct sockaddr *)&addr, sizeof addr) == 0;
    close(fd);
    return ok;
}

/// Starts a connect to an IPv4 or IPv6 literal address. Returns a libuv error code. With
/// `user_timeout_ms`, the connection fails (ETIMEDOUT) once data stays unacknowledged that long,
/// the connect itself included (TCP_USER_TIMEOUT; the socket is made here so it applies from the SYN).
static inline int titan_tcp_connect(uv_connect_t *req, uv_tcp_t *tcp, const char *host, int port,
                                    unsigned int user_timeout_ms, uv_connect_cb cb) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0) {
        int rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
        if (rc != 0) return rc;
    }
    if (user_timeout_ms > 0) {
        int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return -errno;
        int rc = setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms) == 0 ? 0 : -errno;
        if (rc == 0) rc = uv_tcp_open(tcp, fd);
        if (rc != 0) {
            close(fd);
            return rc;
        }
    }
    return uv_tcp_connect(req, tcp, (const struct sockaddr *)&ss, cb);
}

/// The local port a TCP handle is bound to, or a negative libuv error.
static inline int titan_tcp_local_port(uv_tcp_t *tcp) {
    struct sockaddr_storage ss;
    int len = (int)sizeof ss;
    int rc = uv_tcp_getsockname(tcp, (struct sockaddr *)&ss, &len);
    if (rc != 0) return rc;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return UV_EINVAL;
}

/// The local IP address of a connected TCP handle, as text, into `out`; 0 or a negative libuv error.
static inline int titan_tcp_local_ip(uv_tcp_t *tcp, char *out, size_t size) {
    struct sockaddr_storage ss;
    int len = (int)sizeof ss;
    int rc = uv_tcp_getsockname(tcp, (struct sockaddr *)&ss, &len);
    if (rc != 0) return rc;
    if (ss.ss_family == AF_INET) return uv_ip4_name((struct sockaddr_in *)&ss, out, size);
    if (ss.ss_family == AF_INET6) return uv_ip6_name((struct sockaddr_in6 *)&ss, out, size);
    return UV_EINVAL;
}

/// The peer's IP address as text (for loopback checks and logs).
static inline int titan_tcp_peer_ip(uv_tcp_t *tcp, char *out, size_t size) {
    struct sockaddr_storage ss;
    int len = (int)sizeof ss;
    int rc = uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len);
    if (rc != 0) return rc;
    if (ss.ss_family == AF_INET) return uv_ip4_name((struct sockaddr_in *)&ss, out, size);
    if (ss.ss_family == AF_INET6) return uv_ip6_name((struct sockaddr_in6 *)&ss, out, size);
    return UV_EINVAL;
}

/// Writes `len` bytes now if the socket takes them; returns bytes written, or a negative libuv error
/// (UV_EAGAIN when nothing could be written).
static inline int titan_try_write(uv_stream_t *stream, const void *base, size_t len) {
    uv_buf_t buf = uv_buf_init((char *)base, (unsigned int)len);
    return uv_try_write(stream, &buf, 1);
}

/// Queues one write of `len` bytes; `base` must stay valid until `cb` runs.
static inline int titan_write(uv_write_t *req, uv_stream_t *stream, const void *base, size_t len, uv_write_cb cb) {
    uv_buf_t buf = uv_buf_init((char *)base, (unsigned int)len);
    return uv_write(req, stream, &buf, 1, cb);
}

static inline void titan_buf_set(uv_buf_t *buf, void *base, size_t len) {
    buf->base = (char *)base;
    buf->len = len;
}

// MARK: processes

// GNU extensions declared here rather than through _GNU_SOURCE, which would give this module
// definitions of system structs that differ from the ones Foundation and Dispatch import.
#ifndef POSIX_SPAWN_SETSID
#define POSIX_SPAWN_SETSID 0x80
#endif
extern int pipe2(int pipefd[2], int flags);
extern int pthread_setname_np(pthread_t thread, const char *name);
extern int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *actions, const char *path);
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/// The result of `titan_spawn`: the child's pid, and the read ends of its stdout and stderr pipes.
typedef struct {
    pid_t pid;
    int stdout_fd;
    int stderr_fd;
} titan_spawn_result;

static inline void titan_close_pair(int p[2]) {
    if (p[0] >= 0) close(p[0]);
    if (p[1] >= 0) close(p[1]);
}

/// Spawns `argv` with posix_spawnp (vfork semantics: no copy of the parent's address space) in a
/// new session, so the child leads its own process group and `kill(-pid)` reaches its whole tree.
/// stdin is /dev/null; stdout and stderr are pipes whose read ends (non-blocking, close-on-exec)
/// are returned. Every other descriptor is closed in the child: a job must not hold the node's
/// sockets or another job's pipes open (a pipe held by a stray child never reaches EOF).
/// The signal mask is emptied and common signals reset to their default, so the child inherits
/// neither libuv's mask nor an ignored SIGPIPE.
/// Returns 0 or an errno value (ENOENT, EACCES, ... when the program cannot be executed).
static inline int titan_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd,
                              titan_spawn_result *out) {
    int outp[2] = {-1, -1}, errp[2] = {-1, -1};
    if (pipe2(outp, O_CLOEXEC) != 0) return errno;
    if (pipe2(errp, O_CLOEXEC) != 0) { int e = errno; titan_close_pair(outp); return e; }

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    if (cwd != NULL && cwd[0] != '\0') posix_spawn_file_actions_addchdir_np(&fa, cwd);

    // Caught signals are reset by exec anyway; only ignored ones survive it. Resetting a short
    // list instead of all 64 saves the child ~50 sigaction calls per spawn.
    static const int reset[] = {SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGALRM, SIGTERM, SIGCHLD,
                                SIGTSTP, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2, SIGXFSZ, SIGXCPU};
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (size_t i = 0; i < sizeof reset / sizeof reset[0]; i++) sigaddset(&defaults, reset[i]);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    pid_t pid = -1;
    int rc = posix_spawnp(&pid, path, &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(outp[1]);
    close(errp[1]);
    if (rc != 0) {
        close(outp[0]);
        close(errp[0]);
        return rc;
    }
    fcntl(outp[0], F_SETFL, fcntl(outp[0], F_GETFL) | O_NONBLOCK);
    fcntl(errp[0], F_SETFL, fcntl(errp[0], F_GETFL) | O_NONBLOCK);
    out->pid = pid;
    out->stdout_fd = outp[0];
    out->stderr_fd = errp[0];
    return 0;
}

/// pidfd_open(2): a descriptor that becomes readable when `pid` exits. -1 with errno on failure.
static inline int titan_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/// Reaps `pid` if it has exited. Returns 1 and fills exit code or signal when reaped, 0 if still
/// running, -1 with errno on error.
static inline int titan_reap(pid_t pid, int *exit_code, int *term_signal) {
    int status = 0;
    pid_t r;
    do { r = waitpid(pid, &status, WNOHANG); } while (r < 0 && errno == EINTR);
    if (r == 0) return 0;
    if (r < 0) return -1;
    *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    *term_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return 1;
}

/// Sends `sig` to the process group led by `pgid`. 0 or errno.
static inline int titan_kill_group(pid_t pgid, int sig) {
    return kill(-pgid, sig) == 0 ? 0 : errno;
}

static inline int titan_errno(void) { return errno; }

/// Names the calling thread (shown by top, perf, gdb); Linux keeps the first 15 bytes.
static inline void titan_set_thread_name(const char *name) {
    char short_name[16];
    strncpy(short_name, name, sizeof short_name - 1);
    short_name[sizeof short_name - 1] = '\0';
    pthread_setname_np(pthread_self(), short_name);
}

#endif
