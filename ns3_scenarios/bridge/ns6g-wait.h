/*
 * ns6g-wait.h: how both sides of the bridge post and wait on a sequence counter. Plain C, included by
 * the scenarios (ns6g-bridge.h) and by Python's C extension (ns6g/_shmsync.c), so there is one copy.
 *
 * A counter is a pair of 32-bit words in shared memory, [seq, waiters]. Each side also owns a CPU word
 * (the CPU it last ran on, plus one; 0 = unknown) that the other side reads.
 *
 * Post: store seq (sequentially consistent), then FUTEX_WAKE only if `waiters` says somebody sleeps, so a
 * post to a spinning peer makes no system call. Wait: spin, then sleep on the futex. The waiter adds itself
 * to `waiters` before it reads seq and the poster writes seq before it reads `waiters`, both sequentially
 * consistent, so a wake-up cannot be lost.
 *
 * When to spin (the only part that is policy). Spinning wins only while the peer runs on another CPU:
 *  - Same CPU: if the peer last ran on the CPU this waiter runs on, it is not running now (this waiter
 *    is), so spinning would only hold the CPU the peer needs. The waiter sleeps at once.
 *  - Budget: a spin lasts at most spin_ns.
 *  - Backoff: a spin that ends without the answer (the peer runs long steps, or more processes than cores
 *    keep it off a CPU) doubles `backoff`, and the next backoff - 1 waits sleep without spinning; a spin
 *    that wins halves it. One lost spin in quiet conditions costs nothing more; under steady contention the
 *    waiter probes once every NS6G_MAX_BACKOFF waits, so nearly every wait is a plain futex sleep, which
 *    costs what a blocking socket read costs.
 *
 * Moving apart (one side only: the scenario sets `may_move`). Once the two sides share a CPU, Linux tends
 * to keep them there: every futex wake-up lands the woken side on the CPU the waker just left, even with
 * another CPU idle, and each round trip then costs two context switches (8.9 us here against 1.2 us on
 * two CPUs). A side that finds, when its wait ends, that the peer last ran on its own CPU for
 * NS6G_MOVE_AFTER waits in a row moves itself to another CPU it is allowed on (pinning to that CPU, then
 * restoring its own affinity mask at once: the scheduler's choices are free again afterwards). If the
 * sides are back together within NS6G_MOVE_HOLD_NS of a move (all other CPUs busy, or a scheduler that
 * insists), the streak needed for the next move doubles, up to NS6G_MAX_MOVE_AFTER waits.
 */
#ifndef NS6G_WAIT_H
#define NS6G_WAIT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_getcpu */
#endif
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#define NS6G_CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define NS6G_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define NS6G_CPU_RELAX() ((void)0)
#endif

#define NS6G_MAX_BACKOFF 64u
#define NS6G_MOVE_AFTER 4u
#define NS6G_MAX_MOVE_AFTER 65536u
#define NS6G_MOVE_HOLD_NS 10000000LL

/** One side's waiting state on the counter it waits on. Zero-initialise, then set the pointers and spin_ns. */
typedef struct ns6g_waiter
{
    uint32_t* counter;         /* [seq, waiters] this side waits on */
    uint32_t* own_cpu;         /* this side's CPU word (written), or NULL */
    const uint32_t* peer_cpu;  /* the poster's CPU word (read), or NULL */
    int64_t spin_ns;           /* longest spin (ns); 0 never spins */
    uint32_t backoff;          /* see the policy above */
    uint32_t skip;             /* waits left that sleep without spinning */
    /* Statistics, for benchmarks and tests: how each wait that was not already answered went. */
    uint64_t spins_won;        /* answered while spinning */
    uint64_t spins_lost;       /* spun for the whole budget, then slept */
    uint64_t skipped_backoff;  /* slept without spinning: backoff */
    uint64_t skipped_same_cpu; /* slept without spinning: the peer last ran on this CPU */
    uint64_t sleeps;           /* sleep phases (a caller that sleeps in slices counts one per slice) */
    uint64_t sleep_timeouts;   /* futex sleeps that ran to their timeout: no wake-up came */
    /* Moving apart (see the policy above); only a side that sets may_move. */
    int may_move;              /* this side moves to another CPU when it keeps meeting the peer on its own */
    uint32_t together;         /* waits in a row that ended with the peer last on this CPU */
    uint32_t move_after;       /* the streak that triggers a move (0: NS6G_MOVE_AFTER) */
    int64_t moved_ns;          /* when the last move happened */
    int judged;                /* whether the streak after the last move has been looked at */
    uint64_t moves;            /* moves made */
    uint64_t moves_undone;     /* moves after which the sides met again within NS6G_MOVE_HOLD_NS */
} ns6g_waiter;

static inline int
ns6g_reached(uint32_t value, uint32_t target)
{
    return (int32_t)(value - target) >= 0; /* wrap-safe */
}

static inline int64_t
ns6g_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/** This thread's CPU plus one (glibc reads it from rseq: no system call), or 0 if unknown. */
static inline uint32_t
ns6g_cpu_tag(void)
{
    int cpu = sched_getcpu();
    return cpu < 0 ? 0u : (uint32_t)cpu + 1u;
}

static inline void
ns6g_mark_cpu(uint32_t* own_cpu)
{
    if (own_cpu)
    {
        __atomic_store_n(own_cpu, ns6g_cpu_tag(), __ATOMIC_RELAXED);
    }
}

/** Publish `value` on `counter` and wake its sleepers, if any. */
static inline void
ns6g_post(uint32_t* counter, uint32_t value, uint32_t* own_cpu)
{
    ns6g_mark_cpu(own_cpu);
    __atomic_store_n(counter, value, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(counter + 1, __ATOMIC_SEQ_CST) != 0)
    {
        /* Shared (not PRIVATE) futex: the peer is another process. */
        syscall(SYS_futex, counter, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
    }
}

/** True if the counter already reached `target` (then this side runs: its CPU word is updated). */
static inline int
ns6g_ready(ns6g_waiter* w, uint32_t target)
{
    if (!ns6g_reached(__atomic_load_n(w->counter, __ATOMIC_ACQUIRE), target))
    {
        return 0;
    }
    ns6g_mark_cpu(w->own_cpu);
    return 1;
}

/** The spin phase of a wait, by the policy above; true if the counter reached `target`. */
static inline int
ns6g_spin(ns6g_waiter* w, uint32_t target)
{
    if (ns6g_ready(w, target))
    {
        return 1;
    }
    if (w->skip > 0)
    {
        --w->skip;
        ++w->skipped_backoff;
        return 0;
    }
    if (w->spin_ns <= 0)
    {
        return 0;
    }
    uint32_t me = ns6g_cpu_tag();
    if (w->peer_cpu && me != 0 && __atomic_load_n(w->peer_cpu, __ATOMIC_RELAXED) == me)
    {
        ++w->skipped_same_cpu;
        return 0;
    }
    int64_t start = ns6g_now_ns();
    for (unsigned i = 1;; ++i)
    {
        if (ns6g_ready(w, target))
        {
            ++w->spins_won;
            w->backoff /= 2;
            return 1;
        }
        NS6G_CPU_RELAX();
        if ((i & 63) == 0 && ns6g_now_ns() - start >= w->spin_ns)
        {
            break;
        }
    }
    ++w->spins_lost;
    w->backoff = w->backoff == 0 ? 1 : (w->backoff >= NS6G_MAX_BACKOFF / 2 ? NS6G_MAX_BACKOFF : 2 * w->backoff);
    w->skip = w->backoff - 1;
    return 0;
}

/** The sleep phase: FUTEX_WAIT until the counter reaches `target` (true) or `timeout_ns` passes (false). */
static inline int
ns6g_sleep(ns6g_waiter* w, uint32_t target, int64_t timeout_ns)
{
    int ok = 0;
    int64_t deadline = ns6g_now_ns() + timeout_ns;
    __atomic_fetch_add(w->counter + 1, 1, __ATOMIC_SEQ_CST);
    ++w->sleeps;
    for (;;)
    {
        uint32_t v = __atomic_load_n(w->counter, __ATOMIC_SEQ_CST);
        if (ns6g_reached(v, target))
        {
            ok = 1;
            break;
        }
        int64_t left = deadline - ns6g_now_ns();
        if (left <= 0)
        {
            break;
        }
        struct timespec ts = {(time_t)(left / 1000000000LL), (long)(left % 1000000000LL)};
        if (syscall(SYS_futex, w->counter, FUTEX_WAIT, v, &ts, NULL, 0) != 0 && errno == ETIMEDOUT)
        {
            ++w->sleep_timeouts;
        }
    }
    __atomic_fetch_sub(w->counter + 1, 1, __ATOMIC_SEQ_CST);
    if (ok)
    {
        ns6g_mark_cpu(w->own_cpu);
    }
    return ok;
}

/**
 * Pins the calling thread to an allowed CPU other than `me` (one plus its index) and restores its affinity
 * mask: the move happens at once, and the scheduler stays free to place the thread afterwards. Successive
 * calls try successive CPUs (`turn`), so one busy CPU is not tried forever. False if there is no other CPU.
 */
static inline int
ns6g_move_off(uint32_t me, uint64_t turn)
{
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
    {
        return 0;
    }
    int others[CPU_SETSIZE];
    int count = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    {
        if (CPU_ISSET(cpu, &allowed) && (uint32_t)cpu + 1u != me)
        {
            others[count++] = cpu;
        }
    }
    if (count == 0)
    {
        return 0;
    }
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(others[turn % (uint64_t)count], &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0)
    {
        return 0;
    }
    sched_setaffinity(0, sizeof allowed, &allowed);
    return 1;
}

/** After a wait that ended (this side runs): move apart from the peer if the policy above says so; true if
 *  it moved. */
static inline int
ns6g_keep_apart(ns6g_waiter* w)
{
    if (!w->may_move || !w->peer_cpu)
    {
        return 0;
    }
    uint32_t me = ns6g_cpu_tag();
    if (me == 0 || __atomic_load_n(w->peer_cpu, __ATOMIC_RELAXED) != me)
    {
        w->together = 0;
        return 0;
    }
    if (w->move_after == 0)
    {
        w->move_after = NS6G_MOVE_AFTER;
    }
    if (++w->together < w->move_after)
    {
        return 0;
    }
    int64_t now = ns6g_now_ns();
    if (w->moves > 0 && !w->judged)
    {
        /* The first streak after a move tells whether the move held. */
        w->judged = 1;
        if (now - w->moved_ns < NS6G_MOVE_HOLD_NS)
        {
            ++w->moves_undone;
            w->move_after = w->move_after >= NS6G_MAX_MOVE_AFTER / 2 ? NS6G_MAX_MOVE_AFTER : 2 * w->move_after;
            if (w->together < w->move_after)
            {
                return 0;
            }
        }
        else
        {
            w->move_after = NS6G_MOVE_AFTER;
        }
    }
    w->together = 0;
    w->moved_ns = now;
    w->judged = 0;
    if (!ns6g_move_off(me, w->moves))
    {
        /* No other CPU allowed (now): look again after a longer streak, as after a move that did not hold. */
        w->move_after = w->move_after >= NS6G_MAX_MOVE_AFTER / 2 ? NS6G_MAX_MOVE_AFTER : 2 * w->move_after;
        w->judged = 1;
        return 0;
    }
    ++w->moves;
    ns6g_mark_cpu(w->own_cpu);
    return 1;
}

#endif /* NS6G_WAIT_H */
