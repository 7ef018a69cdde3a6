// OpenMPI's predefined handles are macros that cast the address of incomplete global structs,
// which Swift cannot import. These static inline getters re-export them under their MPI names.
#ifndef SPECTRAIN_CMPI_SHIM_H
#define SPECTRAIN_CMPI_SHIM_H
#include <mpi.h>

#define SPECTRAIN_GETTER(type, name) \
    static inline type spectrain_##name(void) __attribute__((swift_name("getter:" #name "()"))); \
    static inline type spectrain_##name(void) { return name; }

SPECTRAIN_GETTER(MPI_Comm, MPI_COMM_WORLD)
SPECTRAIN_GETTER(MPI_Comm, MPI_COMM_NULL)
SPECTRAIN_GETTER(MPI_Datatype, MPI_FLOAT)
SPECTRAIN_GETTER(MPI_Datatype, MPI_DOUBLE)
SPECTRAIN_GETTER(MPI_Datatype, MPI_INT32_T)
SPECTRAIN_GETTER(MPI_Datatype, MPI_INT64_T)
SPECTRAIN_GETTER(MPI_Datatype, MPI_UINT8_T)
SPECTRAIN_GETTER(MPI_Datatype, MPI_BYTE)
SPECTRAIN_GETTER(MPI_Op, MPI_SUM)
SPECTRAIN_GETTER(MPI_Op, MPI_MAX)
SPECTRAIN_GETTER(MPI_Op, MPI_MIN)
SPECTRAIN_GETTER(MPI_Errhandler, MPI_ERRORS_RETURN)
SPECTRAIN_GETTER(MPI_Info, MPI_INFO_NULL)
SPECTRAIN_GETTER(void *, MPI_IN_PLACE)
SPECTRAIN_GETTER(MPI_Status *, MPI_STATUS_IGNORE)
SPECTRAIN_GETTER(MPI_Request, MPI_REQUEST_NULL)
SPECTRAIN_GETTER(MPI_Status *, MPI_STATUSES_IGNORE)

#undef SPECTRAIN_GETTER

/// Buffer sizes for the string queries, as plain ints (the macros expand to other macros).
static const int spectrain_max_error_string = MPI_MAX_ERROR_STRING;
static const int spectrain_max_library_version_string = MPI_MAX_LIBRARY_VERSION_STRING;
static const int spectrain_max_processor_name = MPI_MAX_PROCESSOR_NAME;

#endif
