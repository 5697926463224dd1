/*
 * ns6g._shmsync: the Python half of the bridge handshake.
 *
 * A Counter is a pair of 32-bit words in shared memory: [sequence, waiters].
 * The poster stores a new sequence with a sequentially consistent store (a full fence on x86), then
 * wakes the futex only if the waiter count says somebody sleeps, so a step costs no system call when
 * the peer is spinning. A waiter spins for a short while (the fast path: ~1 us round trips), then
 * registers itself in `waiters` and sleeps in FUTEX_WAIT with a timeout, so that many environments on
 * few cores do not burn each other's CPU. The spin adapts: a wait that outlasted the spin budget last
 * time (the peer runs long steps, or more processes than cores) makes the next wait skip spinning. The same protocol is implemented in C++ in
 * ns3_scenarios/bridge/ns6g-bridge.h; keep the two in step.
 *
 * The GIL is released while sleeping, never while spinning (spins are microseconds).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

typedef struct {
    PyObject_HEAD
    Py_buffer view; /* keeps the mapping alive (mmap refuses to close while exported) */
    uint32_t *seq;
    uint32_t *waiters;
    int64_t last_wait_ns; /* duration of the previous wait: predicts whether spinning will pay */
} Counter;

static inline int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Wrapping comparison: true when `value` has reached `target`. */
static inline int reached(uint32_t value, uint32_t target) { return (int32_t)(value - target) >= 0; }

static int Counter_init(Counter *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"buffer", "offset", NULL};
    PyObject *buffer;
    Py_ssize_t offset;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "On", kwlist, &buffer, &offset)) return -1;
    if (self->view.obj) PyBuffer_Release(&self->view);
    if (PyObject_GetBuffer(buffer, &self->view, PyBUF_WRITABLE | PyBUF_SIMPLE) < 0) return -1;
    if (offset < 0 || offset % 8 != 0 || offset + 8 > self->view.len) {
        PyBuffer_Release(&self->view);
        PyErr_Format(PyExc_ValueError, "counter offset %zd is not 8-byte aligned inside a %zd-byte buffer",
                     offset, self->view.len);
        return -1;
    }
    self->seq = (uint32_t *)((char *)self->view.buf + offset);
    self->waiters = self->seq + 1;
    return 0;
}

static void Counter_dealloc(Counter *self) {
    if (self->view.obj) PyBuffer_Release(&self->view);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Counter_release(Counter *self, PyObject *Py_UNUSED(ignored)) {
    if (self->view.obj) PyBuffer_Release(&self->view);
    self->seq = self->waiters = NULL;
    Py_RETURN_NONE;
}

#define CHECK_OPEN(self)                                                   \
    if (!(self)->seq) {                                                    \
        PyErr_SetString(PyExc_ValueError, "counter has been released");    \
        return NULL;                                                       \
    }

static PyObject *Counter_load(Counter *self, PyObject *Py_UNUSED(ignored)) {
    CHECK_OPEN(self);
    return PyLong_FromUnsignedLong(__atomic_load_n(self->seq, __ATOMIC_ACQUIRE));
}

/* post(value): publish `value` (release + full fence), wake sleepers if any. */
static PyObject *Counter_post(Counter *self, PyObject *arg) {
    CHECK_OPEN(self);
    unsigned long value = PyLong_AsUnsignedLong(arg);
    if (value == (unsigned long)-1 && PyErr_Occurred()) return NULL;
    __atomic_store_n(self->seq, (uint32_t)value, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(self->waiters, __ATOMIC_SEQ_CST) != 0)
        syscall(SYS_futex, self->seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
    Py_RETURN_NONE;
}

/* wait(target, spin_ns, timeout_ns) -> bool: True once the sequence reached target, False on timeout. */
static PyObject *Counter_wait(Counter *self, PyObject *const *args, Py_ssize_t nargs) {
    CHECK_OPEN(self);
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "wait(target, spin_ns, timeout_ns)");
        return NULL;
    }
    unsigned long target = PyLong_AsUnsignedLong(args[0]);
    long long spin_ns = PyLong_AsLongLong(args[1]);
    long long timeout_ns = PyLong_AsLongLong(args[2]);
    if (PyErr_Occurred()) return NULL;

    uint32_t t = (uint32_t)target;
    if (reached(__atomic_load_n(self->seq, __ATOMIC_ACQUIRE), t)) {
        self->last_wait_ns = 0;
        Py_RETURN_TRUE;
    }

    int64_t start = now_ns();
    if (self->last_wait_ns > spin_ns) spin_ns = 0;
    for (unsigned i = 1; spin_ns > 0; ++i) {
        if (reached(__atomic_load_n(self->seq, __ATOMIC_ACQUIRE), t)) {
            self->last_wait_ns = now_ns() - start;
            Py_RETURN_TRUE;
        }
        CPU_RELAX();
        if ((i & 63) == 0 && now_ns() - start >= spin_ns) break;
    }

    int ok = 0;
    int64_t deadline = start + timeout_ns;
    Py_BEGIN_ALLOW_THREADS
    __atomic_fetch_add(self->waiters, 1, __ATOMIC_SEQ_CST);
    for (;;) {
        uint32_t v = __atomic_load_n(self->seq, __ATOMIC_SEQ_CST);
        if (reached(v, t)) { ok = 1; break; }
        int64_t left = deadline - now_ns();
        if (left <= 0) break;
        struct timespec ts = {(time_t)(left / 1000000000LL), (long)(left % 1000000000LL)};
        /* Shared (not PRIVATE) futex: the peer is another process. */
        syscall(SYS_futex, self->seq, FUTEX_WAIT, v, &ts, NULL, 0);
    }
    __atomic_fetch_sub(self->waiters, 1, __ATOMIC_SEQ_CST);
    self->last_wait_ns = now_ns() - start;
    Py_END_ALLOW_THREADS
    if (ok) Py_RETURN_TRUE;
    Py_RETURN_FALSE;
}

static PyMethodDef Counter_methods[] = {
    {"load", (PyCFunction)Counter_load, METH_NOARGS, "Current sequence value (acquire load)."},
    {"post", (PyCFunction)Counter_post, METH_O, "post(value): publish a new sequence value, waking sleepers."},
    {"wait", (PyCFunction)(void (*)(void))Counter_wait, METH_FASTCALL,
     "wait(target, spin_ns, timeout_ns) -> bool: spin, then sleep on the futex, until the sequence "
     "reaches target; False if timeout_ns passed first."},
    {"release", (PyCFunction)Counter_release, METH_NOARGS, "Drop the buffer export (the mapping may then close)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CounterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ns6g._shmsync.Counter",
    .tp_doc = "Counter(buffer, offset): a [sequence, waiters] pair of uint32 words in shared memory.",
    .tp_basicsize = sizeof(Counter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Counter_init,
    .tp_dealloc = (destructor)Counter_dealloc,
    .tp_methods = Counter_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "ns6g._shmsync", "Futex-backed sequence counters for the ns6g bridge.", -1, NULL,
};

PyMODINIT_FUNC PyInit__shmsync(void) {
    if (PyType_Ready(&CounterType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&CounterType);
    if (PyModule_AddObject(m, "Counter", (PyObject *)&CounterType) < 0) {
        Py_DECREF(&CounterType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
