/* A shifted wall clock for testing on other dates: LD_PRELOAD this library and set
 * SHIFT_CLOCK_SECONDS, and the process and its children read the real-time clock that many
 * seconds later (or earlier, when negative). Time still passes at its usual pace and the
 * monotonic clocks are left alone, so sleeps, timeouts and timers behave as without it.
 * Every process of a run takes the same offset from the environment, so they agree on
 * "now" (libfaketime's start-at mode would hang Python's timed waits here). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long long offset_seconds;
static int (*real_clock_gettime)(clockid_t, struct timespec *);

__attribute__((constructor)) static void shift_clock_init(void) {
    const char *text = getenv("SHIFT_CLOCK_SECONDS");
    offset_seconds = text ? atoll(text) : 0;
    real_clock_gettime = dlsym(RTLD_NEXT, "clock_gettime");
}

static int is_wall_clock(clockid_t clock) {
    return clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE || clock == CLOCK_TAI;
}

int clock_gettime(clockid_t clock, struct timespec *now) {
    if (!real_clock_gettime) real_clock_gettime = dlsym(RTLD_NEXT, "clock_gettime");
    int result = real_clock_gettime(clock, now);
    if (result == 0 && is_wall_clock(clock)) now->tv_sec += offset_seconds;
    return result;
}

int gettimeofday(struct timeval *restrict now, void *restrict zone) {
    struct timespec spec;
    (void)zone;
    if (clock_gettime(CLOCK_REALTIME, &spec) != 0) return -1;
    now->tv_sec = spec.tv_sec;
    now->tv_usec = spec.tv_nsec / 1000;
    return 0;
}

time_t time(time_t *now) {
    struct timespec spec;
    clock_gettime(CLOCK_REALTIME, &spec);
    if (now) *now = spec.tv_sec;
    return spec.tv_sec;
}

int timespec_get(struct timespec *now, int base) {
    if (base != TIME_UTC || clock_gettime(CLOCK_REALTIME, now) != 0) return 0;
    return base;
}
