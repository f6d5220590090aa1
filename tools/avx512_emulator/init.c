/*
 * PID 1 of the emulator's initramfs (see README.md). It mounts the usual pseudo file systems,
 * runs /payload with the arguments stored NUL-separated in /payload.args, prints the exit code
 * between markers run.sh looks for on the serial console, and powers the machine off.
 * Built with `gcc -static`, so the initramfs needs no libc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define START_MARK "@@AVX512EMU-START@@"
#define EXIT_MARK "@@AVX512EMU-EXIT="

static void power_off(void) {
    sync();
    /* ACPI soft-off; Bochs ends the simulation on it. */
    reboot(RB_POWER_OFF);
    /* Fallback: the Bochs BIOS shutdown port. */
    if (ioperm(0x8900, 1, 1) == 0) {
        const char *s = "Shutdown";
        while (*s) outb(*s++, 0x8900);
    }
    for (;;) pause();
}

static char **read_args(void) {
    static char buf[65536];
    static char *argv[1024];
    int n = 0, fd = open("/payload.args", O_RDONLY);
    ssize_t len = fd >= 0 ? read(fd, buf, sizeof buf - 1) : 0;
    if (len < 0) len = 0;
    argv[n++] = "/payload";
    for (ssize_t i = 0; i < len && n < 1023;) {
        argv[n++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    argv[n] = NULL;
    return argv;
}

int main(void) {
    mkdir("/proc", 0755);
    mkdir("/sys", 0755);
    mkdir("/dev", 0755);
    mkdir("/tmp", 01777);
    mount("proc", "/proc", "proc", 0, NULL);
    mount("sysfs", "/sys", "sysfs", 0, NULL);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    mount("tmpfs", "/tmp", "tmpfs", 0, NULL);

    /* The console the kernel gave us may be missing; use the serial port directly. */
    int fd = open("/dev/ttyS0", O_RDWR | O_NOCTTY);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2) close(fd);
    }
    setenv("PATH", "/", 1);
    setenv("HOME", "/tmp", 1);
    setenv("TMPDIR", "/tmp", 1);
    /* Extra environment (KEY=VALUE lines), e.g. RUST_BACKTRACE=1. */
    FILE *env = fopen("/payload.env", "r");
    if (env) {
        char line[4096];
        while (fgets(line, sizeof line, env)) {
            line[strcspn(line, "\n")] = 0;
            char *eq = strchr(line, '=');
            if (eq) { *eq = 0; setenv(line, eq + 1, 1); }
        }
        fclose(env);
    }
    chdir("/tmp");

    char **argv = read_args();
    printf("\n" START_MARK "\n");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execv("/payload", argv);
        fprintf(stderr, "init: cannot exec /payload: %s\n", strerror(errno));
        _exit(127);
    }
    int status = 0, code;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (WIFEXITED(status)) code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status)) {
        code = 128 + WTERMSIG(status);
        printf("\ninit: payload killed by signal %d (%s)\n", WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else code = 255;
    printf("\n" EXIT_MARK "%d@@\n", code);
    fflush(stdout);
    tcdrain(1);
    power_off();
    return 0;
}
