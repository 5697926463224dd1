/*
 * ns6g._shmsync: the Python half of the bridge handshake.
 *
 * A Lockstep holds Python's two counters in the segment header: the one it posts (requests) and the one
 * it waits on (responses), the two CPU words, and the command and status words of every exchange, so
 * that one call (exchange) does a whole round trip. Posting and waiting are ns3_scenarios/bridge/ns6g-wait.h,
 * the same code the scenario runs; the policy (spin only while it can win, else sleep on the futex) is
 * described there and in docs/bridge.md.
 *
 * The GIL is held while spinning (microseconds) and released while sleeping.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "ns6g-wait.h"

typedef struct {
    PyObject_HEAD
    Py_buffer view; /* keeps the mapping alive (mmap refuses to close while exported) */
    uint32_t *post_counter;
    uint32_t *command; /* request command word (Python writes) */
    uint32_t *status;  /* response status word (the scenario writes) */
    ns6g_waiter waiter;
} Lockstep;

static uint32_t *word_at(Lockstep *self, Py_ssize_t offset, Py_ssize_t size, const char *what) {
    if (offset < 0 || offset % 4 != 0 || offset + size > self->view.len) {
        PyErr_Format(PyExc_ValueError, "%s offset %zd is not 4-byte aligned inside a %zd-byte buffer", what,
                     offset, self->view.len);
        return NULL;
    }
    return (uint32_t *)((char *)self->view.buf + offset);
}

static int Lockstep_init(Lockstep *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"buffer", "post_offset", "wait_offset", "own_cpu_offset", "peer_cpu_offset",
                             "command_offset", "status_offset", "spin_ns", NULL};
    PyObject *buffer;
    Py_ssize_t post_off, wait_off, own_off, peer_off, command_off, status_off;
    long long spin_ns;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O$nnnnnnL", kwlist, &buffer, &post_off, &wait_off, &own_off,
                                     &peer_off, &command_off, &status_off, &spin_ns))
        return -1;
    if (self->view.obj) PyBuffer_Release(&self->view);
    memset(&self->waiter, 0, sizeof self->waiter);
    if (PyObject_GetBuffer(buffer, &self->view, PyBUF_WRITABLE | PyBUF_SIMPLE) < 0) return -1;
    if (!(self->post_counter = word_at(self, post_off, 8, "post counter")) ||
        !(self->waiter.counter = word_at(self, wait_off, 8, "wait counter")) ||
        !(self->waiter.own_cpu = word_at(self, own_off, 4, "own CPU word")) ||
        !(self->waiter.peer_cpu = word_at(self, peer_off, 4, "peer CPU word")) ||
        !(self->command = word_at(self, command_off, 4, "command word")) ||
        !(self->status = word_at(self, status_off, 4, "status word"))) {
        PyBuffer_Release(&self->view);
        return -1;
    }
    self->waiter.spin_ns = spin_ns;
    return 0;
}

static void Lockstep_dealloc(Lockstep *self) {
    if (self->view.obj) PyBuffer_Release(&self->view);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Lockstep_release(Lockstep *self, PyObject *Py_UNUSED(ignored)) {
    if (self->view.obj) PyBuffer_Release(&self->view);
    self->post_counter = self->waiter.counter = self->command = self->status = NULL;
    Py_RETURN_NONE;
}

#define CHECK_OPEN(self)                                                   \
    if (!(self)->post_counter) {                                           \
        PyErr_SetString(PyExc_ValueError, "lockstep has been released");   \
        return NULL;                                                       \
    }

/* Write the command word, then publish `value` on the post counter (its store orders the command). */
static void post(Lockstep *self, uint32_t command, uint32_t value) {
    __atomic_store_n(self->command, command, __ATOMIC_RELAXED);
    ns6g_post(self->post_counter, value, self->waiter.own_cpu);
}

/* Spin (if allowed and the policy says it can win), then sleep up to timeout_ns; true once target came. */
static int wait_for(Lockstep *self, uint32_t target, int spin, long long timeout_ns) {
    if (spin ? ns6g_spin(&self->waiter, target) : ns6g_ready(&self->waiter, target)) return 1;
    if (timeout_ns <= 0) return 0;
    int ok;
    Py_BEGIN_ALLOW_THREADS
    ok = ns6g_sleep(&self->waiter, target, timeout_ns);
    Py_END_ALLOW_THREADS
    return ok;
}

static int parse_u32(PyObject *arg, uint32_t *out) {
    unsigned long value = PyLong_AsUnsignedLong(arg);
    if (value == (unsigned long)-1 && PyErr_Occurred()) return 0;
    *out = (uint32_t)value;
    return 1;
}

/* post(command, value): write the command, publish request `value`, wake the peer if it sleeps. */
static PyObject *Lockstep_post(Lockstep *self, PyObject *const *args, Py_ssize_t nargs) {
    CHECK_OPEN(self);
    uint32_t command, value;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "post(command, value)");
        return NULL;
    }
    if (!parse_u32(args[0], &command) || !parse_u32(args[1], &value)) return NULL;
    post(self, command, value);
    Py_RETURN_NONE;
}

/* wait(target, spin, timeout_ns) -> bool: True once the wait counter reached target, False on timeout. */
static PyObject *Lockstep_wait(Lockstep *self, PyObject *const *args, Py_ssize_t nargs) {
    CHECK_OPEN(self);
    uint32_t target;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "wait(target, spin, timeout_ns)");
        return NULL;
    }
    int spin = PyObject_IsTrue(args[1]);
    long long timeout_ns = PyLong_AsLongLong(args[2]);
    if (!parse_u32(args[0], &target) || PyErr_Occurred()) return NULL;
    if (wait_for(self, target, spin, timeout_ns)) Py_RETURN_TRUE;
    Py_RETURN_FALSE;
}

/* exchange(command, request, timeout_ns) -> int: post(command, request), then wait (spinning while it can
 * win) up to timeout_ns for response request + 1. Returns the response status word, or -1 if it did not come. */
static PyObject *Lockstep_exchange(Lockstep *self, PyObject *const *args, Py_ssize_t nargs) {
    CHECK_OPEN(self);
    uint32_t command, request;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "exchange(command, request, timeout_ns)");
        return NULL;
    }
    long long timeout_ns = PyLong_AsLongLong(args[2]);
    if (!parse_u32(args[0], &command) || !parse_u32(args[1], &request) || PyErr_Occurred()) return NULL;
    post(self, command, request);
    if (!wait_for(self, request + 1, 1, timeout_ns)) return PyLong_FromLong(-1);
    return PyLong_FromUnsignedLong(__atomic_load_n(self->status, __ATOMIC_RELAXED));
}

static PyObject *Lockstep_stats(Lockstep *self, PyObject *Py_UNUSED(ignored)) {
    const ns6g_waiter *w = &self->waiter;
    return Py_BuildValue("{sKsKsKsKsKsKsI}", "spins_won", (unsigned long long)w->spins_won, "spins_lost",
                         (unsigned long long)w->spins_lost, "skipped_backoff", (unsigned long long)w->skipped_backoff,
                         "skipped_same_cpu", (unsigned long long)w->skipped_same_cpu, "sleeps",
                         (unsigned long long)w->sleeps, "sleep_timeouts", (unsigned long long)w->sleep_timeouts,
                         "backoff", (unsigned int)w->backoff);
}

static PyMethodDef Lockstep_methods[] = {
    {"post", (PyCFunction)(void (*)(void))Lockstep_post, METH_FASTCALL,
     "post(command, value): write the command word and publish request sequence value, waking the peer."},
    {"wait", (PyCFunction)(void (*)(void))Lockstep_wait, METH_FASTCALL,
     "wait(target, spin, timeout_ns) -> bool: (if spin) spin while spinning can win, then sleep on the futex "
     "up to timeout_ns until the response sequence reaches target; False if timeout_ns passed first."},
    {"exchange", (PyCFunction)(void (*)(void))Lockstep_exchange, METH_FASTCALL,
     "exchange(command, request, timeout_ns) -> int: post(command, request), then wait as wait() does for "
     "response request + 1; its status word, or -1 if it did not come within timeout_ns."},
    {"stats", (PyCFunction)Lockstep_stats, METH_NOARGS,
     "How waits went so far: spins_won, spins_lost, skipped_backoff, skipped_same_cpu, sleeps (futex sleep "
     "phases, one per timeout slice), sleep_timeouts (futex sleeps that ran to their timeout: no wake-up came), and the current "
     "backoff."},
    {"release", (PyCFunction)Lockstep_release, METH_NOARGS, "Drop the buffer export (the mapping may then close)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject LockstepType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ns6g._shmsync.Lockstep",
    .tp_doc = "Lockstep(buffer, *, post_offset, wait_offset, own_cpu_offset, peer_cpu_offset, command_offset, "
              "status_offset, spin_ns): Python's side of the bridge's two sequence counters ([seq, waiters] uint32 "
              "pairs), CPU words and command/status words.",
    .tp_basicsize = sizeof(Lockstep),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Lockstep_init,
    .tp_dealloc = (destructor)Lockstep_dealloc,
    .tp_methods = Lockstep_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "ns6g._shmsync", "Futex-backed lockstep counters for the ns6g bridge.", -1, NULL,
};

PyMODINIT_FUNC PyInit__shmsync(void) {
    if (PyType_Ready(&LockstepType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&LockstepType);
    if (PyModule_AddObject(m, "Lockstep", (PyObject *)&LockstepType) < 0) {
        Py_DECREF(&LockstepType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
