# Sourced by the scripts: thread settings that keep libtorch fast on a small machine.
# PASSIVE stops idle OpenMP workers from spinning and stealing the other core.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
