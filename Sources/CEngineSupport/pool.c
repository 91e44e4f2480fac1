// The engine's worker threads. Every kernel's parallel region runs here (`parallelFor`, `parallelItems`).
//
// Why not libdispatch's `concurrentPerform`, which the engine used before: its workers park on a semaphore as soon as
// a region ends, so each of the dozens of regions in a training step paid a futex wake-up and a context switch, and
// on two cores that hand-off cost what OpenMP's spinning team (PyTorch's) saves: a Conv3d 64→64 step at 12³ took
// 8.1 ms against PyTorch's 7.1 with the same oneDNN kernels inside. Here a worker spins for a short while after a
// region (REPRO_SPIN_US, default 100 µs) and only then parks; the caller wakes parked workers only when there are
// any.
//
// The job is one 64-bit word: (participants, items, next item). A thread claims an item by compare-and-swap on the
// whole word, so a claim can only succeed on the job currently published, and the job's function and context stay
// valid while any claimed item is unfinished: the caller does not return, nor publish the next job, before every
// item has completed. Which thread runs which item never changes a result: the callers' kernels write each output
// from one item only.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sched.h>
#include <time.h>
#include "engine_support.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define MAX_WORKERS 254  // participants (workers + the caller) must fit the word's 8 bits
#define FIELD_BITS 28
#define FIELD_MASK ((1ull << FIELD_BITS) - 1)

static _Atomic uint64_t job_word;        // participants << 56 | items << 28 | next
static repro_task_fn job_fn;
static void *job_ctx;
static _Atomic long job_completed;
static _Atomic int sleepers;
static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t grow_lock = PTHREAD_MUTEX_INITIALIZER;
static int worker_count;                 // grows, never shrinks
static long spin_ns = -1;
static _Thread_local int inside_region;  // a region started from inside a region runs inline

static inline uint64_t word_participants(uint64_t w) { return w >> 56; }
static inline uint64_t word_items(uint64_t w) { return (w >> FIELD_BITS) & FIELD_MASK; }
static inline uint64_t word_next(uint64_t w) { return w & FIELD_MASK; }

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000000000L + t.tv_nsec;
}

// Work this thread (worker `rank`, the caller being rank 0) may claim in the published job.
static inline int has_work(uint64_t w, int rank) {
    return (uint64_t)rank < word_participants(w) && word_next(w) < word_items(w);
}

// Claims and runs items of the current job until none is left for this thread.
static void drain(int rank) {
    for (;;) {
        uint64_t w = atomic_load_explicit(&job_word, memory_order_acquire);
        if (!has_work(w, rank)) return;
        if (!atomic_compare_exchange_weak_explicit(&job_word, &w, w + 1, memory_order_acq_rel, memory_order_acquire))
            continue;
        job_fn(job_ctx, (long)word_next(w));
        atomic_fetch_add_explicit(&job_completed, 1, memory_order_release);
    }
}

static void *worker_main(void *arg) {
    int rank = (int)(intptr_t)arg;
    inside_region = 1;
    for (;;) {
        long deadline = now_ns() + spin_ns;
        int spins = 0;
        while (!has_work(atomic_load_explicit(&job_word, memory_order_acquire), rank)) {
            cpu_relax();
            if (++spins % 64 == 0 && now_ns() > deadline) {
                // Park. Counting ourselves as a sleeper before the last look, with both sides sequentially
                // consistent, means either we see the new job or its publisher sees us and wakes us.
                pthread_mutex_lock(&park_lock);
                atomic_fetch_add(&sleepers, 1);
                while (!has_work(atomic_load(&job_word), rank)) pthread_cond_wait(&park_cond, &park_lock);
                atomic_fetch_sub(&sleepers, 1);
                pthread_mutex_unlock(&park_lock);
                break;
            }
        }
        drain(rank);
    }
    return NULL;
}

static void ensure_workers(int n) {
    if (__atomic_load_n(&worker_count, __ATOMIC_ACQUIRE) >= n) return;
    pthread_mutex_lock(&grow_lock);
    if (spin_ns < 0) {
        const char *s = getenv("REPRO_SPIN_US");
        spin_ns = (s && *s ? atol(s) : 100) * 1000L;
    }
    while (worker_count < n) {
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setstacksize(&a, 8u << 20);  // Swift kernels keep SIMD tiles on the stack
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &a, worker_main, (void *)(intptr_t)(worker_count + 1)) != 0) {
            pthread_attr_destroy(&a);
            break;
        }
        pthread_attr_destroy(&a);
        __atomic_store_n(&worker_count, worker_count + 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&grow_lock);
}

static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;

void repro_pool_run(int threads, long n, repro_task_fn fn, void *ctx) {
    if (n <= 0) return;
    if (threads > MAX_WORKERS + 1) threads = MAX_WORKERS + 1;
    if (threads <= 1 || n == 1 || inside_region || (uint64_t)n > FIELD_MASK) {
        for (long i = 0; i < n; i++) fn(ctx, i);
        return;
    }
    ensure_workers(threads - 1);
    if (__atomic_load_n(&worker_count, __ATOMIC_ACQUIRE) == 0) {  // no thread could be started
        for (long i = 0; i < n; i++) fn(ctx, i);
        return;
    }
    // One job at a time: two threads of the program (say, a test's and a data loader's) take turns.
    pthread_mutex_lock(&run_lock);
    inside_region = 1;
    job_fn = fn;
    job_ctx = ctx;
    atomic_store_explicit(&job_completed, 0, memory_order_relaxed);
    atomic_store((&job_word), ((uint64_t)threads << 56) | ((uint64_t)n << FIELD_BITS));
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&park_lock);
        pthread_cond_broadcast(&park_cond);
        pthread_mutex_unlock(&park_lock);
    }
    drain(0);
    int spins = 0;
    while (atomic_load_explicit(&job_completed, memory_order_acquire) < n) {
        cpu_relax();
        // A worker held up by another process: give the core away rather than spin against it.
        if (++spins > 4096) sched_yield();
    }
    inside_region = 0;
    pthread_mutex_unlock(&run_lock);
}
