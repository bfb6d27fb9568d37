/* The MPI calls of a fit over several processes, built as a module of its own (libcurvefit_mpi.so)
 * that core/engine/distributed.cpp loads with dlopen only when the process was started by an MPI
 * launcher: a one-process `curvefit` then neither loads Open MPI's libraries (about 5 ms and 1.3 MB
 * of RSS at start-up) nor initialises MPI. Plain C functions, so that no C++ ABI crosses the
 * boundary; every call is on MPI_COMM_WORLD, from the thread that initialised MPI. */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

int curvefit_mpi_start(int* argc, char*** argv) {
  int provided = 0;
  return MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) == MPI_SUCCESS ? 0 : 1;
}
void curvefit_mpi_stop(void) { MPI_Finalize(); }
int curvefit_mpi_rank(void) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}
int curvefit_mpi_size(void) {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}
unsigned long long curvefit_mpi_min(unsigned long long value) {
  unsigned long long smallest = 0;
  MPI_Allreduce(&value, &smallest, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
  return smallest;
}
void curvefit_mpi_min_ints(const int* in, int* out, int count) {
  MPI_Allreduce(in, out, count, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
}
void curvefit_mpi_broadcast(void* data, int bytes, int root) { MPI_Bcast(data, bytes, MPI_BYTE, root, MPI_COMM_WORLD); }
void curvefit_mpi_gather_counts(int mine, int* all) { MPI_Allgather(&mine, 1, MPI_INT, all, 1, MPI_INT, MPI_COMM_WORLD); }
void curvefit_mpi_gather_doubles(const double* mine, int count, double* all, const int* counts, const int* offsets) {
  MPI_Allgatherv(mine, count, MPI_DOUBLE, all, counts, offsets, MPI_DOUBLE, MPI_COMM_WORLD);
}
void curvefit_mpi_gather_integers(const unsigned long long* mine, int count, unsigned long long* all, const int* counts,
                                  const int* offsets) {
  MPI_Allgatherv(mine, count, MPI_UNSIGNED_LONG_LONG, all, counts, offsets, MPI_UNSIGNED_LONG_LONG, MPI_COMM_WORLD);
}
void curvefit_mpi_send(const double* data, int count, int to, int tag) {
  MPI_Send(data, count, MPI_DOUBLE, to, tag, MPI_COMM_WORLD);
}
void curvefit_mpi_receive(double* data, int count, int from, int tag) {
  MPI_Recv(data, count, MPI_DOUBLE, from, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
}
void curvefit_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }
void curvefit_mpi_library(char* text, int capacity) {
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(version, &length);
  strncpy(text, version, (size_t)capacity - 1);
  text[capacity - 1] = '\0';
}

/* A rank's own interrupt, told to the others during a pass: each rank keeps one receive posted for
 * a notice from any peer and tests it between chunks; an interrupted rank sends every peer one
 * notice (non-blocking). After the pass, when the ranks have agreed on the interrupt, each rank
 * completes its sends and takes every notice meant for it, so that none is left for later. */
enum { kInterruptTag = 15 };
static MPI_Request interrupt_receive = MPI_REQUEST_NULL;
static int interrupt_notice = 0;
static int interrupt_taken = 0; /* the posted receive has completed and not been counted */
static MPI_Request* interrupt_sends = NULL;
static int interrupt_send_count = 0;

void curvefit_mpi_interrupt_listen(void) {
  if (interrupt_receive == MPI_REQUEST_NULL && !interrupt_taken)
    MPI_Irecv(&interrupt_notice, 1, MPI_INT, MPI_ANY_SOURCE, kInterruptTag, MPI_COMM_WORLD, &interrupt_receive);
}
int curvefit_mpi_interrupt_arrived(void) {
  if (interrupt_receive == MPI_REQUEST_NULL) return interrupt_taken;
  int done = 0;
  MPI_Test(&interrupt_receive, &done, MPI_STATUS_IGNORE);
  if (done) interrupt_taken = 1;
  return interrupt_taken;
}
void curvefit_mpi_interrupt_notify(void) {
  int rank = 0, size = 1;
  static const int one = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  interrupt_sends = (MPI_Request*)calloc((size_t)size, sizeof(MPI_Request));
  interrupt_send_count = 0;
  for (int peer = 0; peer < size; ++peer)
    if (peer != rank && interrupt_sends)
      MPI_Isend(&one, 1, MPI_INT, peer, kInterruptTag, MPI_COMM_WORLD, &interrupt_sends[interrupt_send_count++]);
}
int curvefit_mpi_sum_int(int value) {
  int sum = 0;
  MPI_Allreduce(&value, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  return sum;
}
/* `expected` notices were sent to this rank in the pass just agreed on. */
void curvefit_mpi_interrupt_settle(int expected) {
  if (interrupt_sends) {
    MPI_Waitall(interrupt_send_count, interrupt_sends, MPI_STATUSES_IGNORE);
    free(interrupt_sends);
    interrupt_sends = NULL;
    interrupt_send_count = 0;
  }
  if (expected > 0 && !interrupt_taken && interrupt_receive != MPI_REQUEST_NULL) {
    MPI_Wait(&interrupt_receive, MPI_STATUS_IGNORE);
    interrupt_taken = 1;
  }
  for (int left = expected - interrupt_taken; left > 0; --left)
    MPI_Recv(&interrupt_notice, 1, MPI_INT, MPI_ANY_SOURCE, kInterruptTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  if (expected > 0) interrupt_taken = 0;
}
/* Before MPI_Finalize: no receive may stay posted. */
void curvefit_mpi_interrupt_stop(void) {
  if (interrupt_receive != MPI_REQUEST_NULL) {
    MPI_Cancel(&interrupt_receive);
    MPI_Wait(&interrupt_receive, MPI_STATUS_IGNORE);
  }
  interrupt_taken = 0;
}
