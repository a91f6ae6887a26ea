# Sourced by the scripts: thread settings that keep libtorch fast on a small machine.
# PASSIVE stops idle OpenMP workers from spinning and stealing the other core.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"
# Debian's libtorch does its matmuls (most of training) in OpenBLAS, in a thread
# pool of its own. golfpack sizes that pool from --threads itself; this is for
# the Python scripts. It must not be 1: that made every matmul single-threaded.
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-$(nproc)}"
