/* The MPI calls of a fit over several processes, built as a module of its own (libcurvefit_mpi.so)
 * that core/engine/distributed.cpp loads with dlopen only when the process was started by an MPI
 * launcher: a one-process `curvefit` then neither loads Open MPI's libraries (about 5 ms and 1.3 MB
 * of RSS at start-up) nor initialises MPI. Plain C functions, so that no C++ ABI crosses the
 * boundary; every call is on MPI_COMM_WORLD, from the thread that initialised MPI. */
#include <mpi.h>
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
